import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  includesFolder,
  isLocalWorkspaceJson,
  nameFromUri,
  uriInputProblem,
  WORKSPACE_KINDS,
  workspaceChoices,
  workspaceSummary,
} from '../../extension/common/downloads';
import type { ArtifactNode, NodeKind } from '../../extension/common/protocol';
import { contextValueFor } from '../../extension/format';

describe('uriInputProblem', () => {
  it('accepts the URI forms of docs/uris.md and paths', () => {
    for (const text of [
      'azureml://datastores/blob/paths/data/x.h5',
      'azureml://subscriptions/s/resourcegroups/rg/workspaces/w/jobs/r1',
      'azureml://jobs/r1/outputs/artifacts/paths/outputs/model.pkl',
      'azureml:classifier:3',
      'runs:/r1/outputs/model.pkl',
      'file:///data/ws/experiments/e/r1',
      '/data/ws/models/m/1',
      '~/ws/models/m/1',
      'C:\\data\\x.h5',
      '  azureml:classifier:3  ',
    ]) {
      assert.equal(uriInputProblem(text), undefined, text);
    }
  });
  it('says what is wrong with the rest', () => {
    assert.match(uriInputProblem('   ') ?? '', /Enter an artifact URI/);
    assert.match(uriInputProblem('https://example.com/x') ?? '', /Unsupported URI scheme "https:"/);
    assert.match(uriInputProblem('s3://bucket/x') ?? '', /Unsupported/);
    assert.match(uriInputProblem('a\0b') ?? '', /NUL/);
  });
});

describe('nameFromUri', () => {
  it('takes the last path segment, decoded', () => {
    assert.equal(nameFromUri('azureml://datastores/blob/paths/a%20dir/x.h5'), 'x.h5');
    assert.equal(nameFromUri('runs:/r1/outputs/'), 'outputs');
    assert.equal(nameFromUri('azureml://subscriptions/s/resourcegroups/rg/workspaces/w/jobs/r1'), 'r1');
    assert.equal(nameFromUri('C:\\data\\x.h5'), 'x.h5');
  });
  it('names a model version by name and version', () => {
    assert.equal(nameFromUri('azureml:classifier:3'), 'classifier:3');
  });
  it('keeps a URI without a path as it is', () => {
    assert.equal(nameFromUri('file:///'), 'file:///');
    assert.equal(nameFromUri('bad%zz'), 'bad%zz');
  });
});

describe('workspaceChoices', () => {
  it('lists the configured local workspaces, then a folder picker', () => {
    const choices = workspaceChoices(['/data/mirror/', '/home/me/ws']);
    assert.deepEqual(
      choices.map((choice) => [choice.label, choice.folder]),
      [
        ['mirror', '/data/mirror/'],
        ['ws', '/home/me/ws'],
        ['$(folder-opened) Choose a folder…', undefined],
      ],
    );
    assert.equal(workspaceChoices([]).length, 1);
  });
  it('adds the opened folders that are local workspaces, each folder once', () => {
    const choices = workspaceChoices(['/data/mirror/'], ['/data/mirror', '/home/me/project', '/home/me/project/']);
    assert.deepEqual(
      choices.map((choice) => [choice.label, choice.folder]),
      [
        ['mirror', '/data/mirror/'],
        ['project', '/home/me/project'],
        ['$(folder-opened) Choose a folder…', undefined],
      ],
    );
    assert.equal(workspaceChoices([], ['/'])[0]?.label, '/');
  });
});

describe('includesFolder', () => {
  it('ignores trailing separators', () => {
    assert.ok(includesFolder(['/data/mirror/'], '/data/mirror'));
    assert.ok(includesFolder(['C:\\ws'], 'C:\\ws\\'));
    assert.ok(!includesFolder(['/data/mirror'], '/data/mirror2'));
    assert.ok(!includesFolder([], '/'));
  });
});

describe('isLocalWorkspaceJson', () => {
  it('is true for the local workspace format only', () => {
    assert.ok(isLocalWorkspaceJson('{"format": "aml-artifacts/local-workspace", "formatVersion": 1, "name": "demo"}'));
    assert.ok(!isLocalWorkspaceJson('{"name": "some other tool"}'));
    assert.ok(!isLocalWorkspaceJson('["aml-artifacts/local-workspace"]'));
    assert.ok(!isLocalWorkspaceJson('null'));
    assert.ok(!isLocalWorkspaceJson('{not json'));
  });
});

describe('workspaceSummary', () => {
  it('says what went where', () => {
    const result = { path: '/ws/experiments/e/r1', files: 3, bytes: 2048, workspace: '/ws' };
    assert.equal(
      workspaceSummary('r1', result),
      'Downloaded r1 (3 files, 2.0 KiB) into the local workspace /ws',
    );
    const failed = { ...result, files: 1, skipped: 2, failures: [{ uri: 'u', path: 'p', reason: 'r' }] };
    assert.match(workspaceSummary('r1', failed), /\(1 file, 2\.0 KiB; 2 already there, 1 failed\)/);
  });
});

describe('Download to Local Workspace menu', () => {
  const manifest = JSON.parse(readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8')) as {
    contributes: { menus: { 'view/item/context': { command: string; when: string }[] } };
  };
  const pattern = new RegExp(
    /viewItem =~ \/(.*)\/$/.exec(
      manifest.contributes.menus['view/item/context'].find(
        (entry) => entry.command === 'amlArtifacts.downloadToWorkspace',
      )?.when ?? '',
    )?.[1] ?? '^$',
  );
  const node = (kind: NodeKind, fields: Partial<ArtifactNode> = {}): string =>
    contextValueFor({ uri: 'u', name: 'n', kind, hasChildren: true, downloadable: true, ...fields });

  it('is offered on runs, model versions and dataset versions', () => {
    for (const kind of WORKSPACE_KINDS) {
      assert.ok(pattern.test(node(kind)), kind);
    }
    assert.ok(pattern.test(node('run', { error: 'x', errorKind: 'unreachable' })));
  });
  it('is not offered on other nodes, nor on versions that cannot be downloaded', () => {
    for (const kind of ['file', 'folder', 'datastore', 'experiment', 'model', 'dataset'] as const) {
      assert.ok(!pattern.test(node(kind)), kind);
    }
    assert.ok(!pattern.test(node('datasetVersion', { downloadable: false })));
  });
});
