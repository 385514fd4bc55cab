import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { ArtifactNode } from '../../extension/common/protocol';
import {
  conflictQuestion,
  contextValueFor,
  describeNode,
  downloadFailuresDetail,
  downloadSummary,
  errorTooltipText,
  formatBytes,
  formatDuration,
  formatRate,
  formatRelativeTime,
  iconFor,
  shortError,
} from '../../extension/format';

const NOW = new Date('2026-11-20T12:00:00Z');

function node(fields: Partial<ArtifactNode>): ArtifactNode {
  return { uri: 'file:///ws/x', name: 'x', kind: 'file', hasChildren: false, ...fields };
}

describe('formatBytes', () => {
  it('keeps small sizes in bytes', () => {
    assert.equal(formatBytes(0), '0 B');
    assert.equal(formatBytes(1023), '1023 B');
  });
  it('uses one decimal and binary multiples above a kilobyte', () => {
    assert.equal(formatBytes(1024), '1.0 KiB');
    assert.equal(formatBytes(1536), '1.5 KiB');
    assert.equal(formatBytes(1.2 * 1024 * 1024), '1.2 MiB');
    assert.equal(formatBytes(5 * 1024 ** 3), '5.0 GiB');
  });
  it('moves to the next unit instead of showing 1024.0', () => {
    assert.equal(formatBytes(1024 * 1024 - 1), '1.0 MiB');
  });
  it('gives nothing for impossible sizes', () => {
    assert.equal(formatBytes(-1), '');
    assert.equal(formatBytes(Number.NaN), '');
  });
});

describe('formatDuration', () => {
  it('shows minutes and seconds', () => {
    assert.equal(formatDuration(133_000), '2m 13s');
  });
  it('shows seconds alone under a minute, and <1s below a second', () => {
    assert.equal(formatDuration(42_900), '42s');
    assert.equal(formatDuration(250), '<1s');
  });
  it('shows hours and minutes, then days and hours', () => {
    assert.equal(formatDuration((3600 + 5 * 60 + 7) * 1000), '1h 5m');
    assert.equal(formatDuration((2 * 86400 + 3 * 3600) * 1000), '2d 3h');
  });
  it('gives nothing for a negative duration', () => {
    assert.equal(formatDuration(-5), '');
  });
});

describe('formatRelativeTime', () => {
  it('counts days, hours and minutes back from now', () => {
    assert.equal(formatRelativeTime('2026-11-17T12:00:00Z', NOW), '3 days ago');
    assert.equal(formatRelativeTime('2026-11-20T11:00:00Z', NOW), '1 hour ago');
    assert.equal(formatRelativeTime('2026-11-20T11:55:00Z', NOW), '5 minutes ago');
  });
  it('uses weeks, months and years for older dates', () => {
    assert.equal(formatRelativeTime('2026-11-06T12:00:00Z', NOW), '2 weeks ago');
    assert.equal(formatRelativeTime('2026-08-20T12:00:00Z', NOW), '3 months ago');
    assert.equal(formatRelativeTime('2024-11-01T12:00:00Z', NOW), '2 years ago');
  });
  it('says "just now" under a minute and handles the future', () => {
    assert.equal(formatRelativeTime('2026-11-20T11:59:30Z', NOW), 'just now');
    assert.equal(formatRelativeTime('2026-11-20T14:00:00Z', NOW), 'in 2 hours');
  });
  it('gives nothing for an unparsable date', () => {
    assert.equal(formatRelativeTime('yesterday-ish', NOW), '');
  });
});

describe('shortError', () => {
  it('keeps the first sentence', () => {
    assert.equal(
      shortError('Folder not found: /data/ws. Create it, or remove it from the setting.'),
      'Folder not found: /data/ws',
    );
  });
  it('keeps the first line and cuts long text with an ellipsis', () => {
    const short = shortError(`${'x'.repeat(100)}\nsecond line`, 20);
    assert.equal(short.length, 20);
    assert.ok(short.endsWith('…'));
  });
  it('does not cut a path at its dots', () => {
    assert.equal(shortError('cannot read /ws/run.json'), 'cannot read /ws/run.json');
  });
});

describe('describeNode', () => {
  it('shows a file size and its age', () => {
    assert.equal(
      describeNode(node({ size: 1536, modified: '2026-11-17T12:00:00Z' }), NOW),
      '1.5 KiB · 3 days ago',
    );
  });
  it('shows a run status with its duration, start time and server description', () => {
    const run = node({
      kind: 'run',
      status: 'Completed',
      durationMs: 313_000,
      modified: '2026-11-20T10:00:00Z',
      description: 'bright_lamp_3',
    });
    assert.equal(describeNode(run, NOW), 'Completed 5m 13s · 2 hours ago · bright_lamp_3');
  });
  it('shows the status alone when no duration is known', () => {
    assert.equal(describeNode(node({ kind: 'run', status: 'Queued' }), NOW), 'Queued');
  });
  it('shows a short warning instead of facts for a broken node', () => {
    const broken = node({ kind: 'run', status: 'Completed', error: 'run.json is not valid JSON. Fix it.' });
    assert.equal(describeNode(broken, NOW), '⚠ run.json is not valid JSON');
  });
  it('is empty when the node has no facts', () => {
    assert.equal(describeNode(node({ kind: 'folder', hasChildren: true }), NOW), '');
  });
});

describe('iconFor', () => {
  it('colors run status icons', () => {
    assert.deepEqual(iconFor(node({ kind: 'run', status: 'Completed' })), { id: 'pass', color: 'testing.iconPassed' });
    assert.deepEqual(iconFor(node({ kind: 'run', status: 'Failed' })), { id: 'error', color: 'errorForeground' });
  });
  it('spins for running runs and waits for queued ones', () => {
    assert.equal(iconFor(node({ kind: 'run', status: 'Running' })).id, 'sync~spin');
    for (const status of ['Queued', 'NotStarted', 'Preparing']) {
      assert.equal(iconFor(node({ kind: 'run', status })).id, 'clock');
    }
    assert.equal(iconFor(node({ kind: 'run', status: 'Canceled' })).id, 'circle-slash');
  });
  it('falls back for unknown or missing run status', () => {
    assert.equal(iconFor(node({ kind: 'run', status: 'Exploded' })).id, 'circle-outline');
    assert.equal(iconFor(node({ kind: 'run' })).id, 'circle-outline');
  });
  it('picks an icon per kind', () => {
    assert.equal(iconFor(node({ kind: 'workspace' })).id, 'azure');
    assert.equal(iconFor(node({ kind: 'experiment' })).id, 'beaker');
    assert.equal(iconFor(node({ kind: 'datasets' })).id, 'database');
    assert.equal(iconFor(node({ kind: 'models' })).id, 'package');
    assert.equal(iconFor(node({ kind: 'datastore' })).id, 'server');
    assert.equal(iconFor(node({ kind: 'modelVersion' })).id, 'tag');
    assert.equal(iconFor(node({ kind: 'datasetVersion' })).id, 'tag');
    assert.equal(iconFor(node({ kind: 'folder' })).id, 'folder');
    assert.equal(iconFor(node({ kind: 'file' })).id, 'file');
  });
  it('shows a warning for a broken node whatever its kind', () => {
    assert.equal(iconFor(node({ kind: 'run', status: 'Completed', error: 'bad' })).id, 'warning');
  });
});

describe('contextValueFor', () => {
  it('marks downloadable nodes so that the Download menu matches them', () => {
    assert.equal(contextValueFor(node({ kind: 'file', downloadable: true })), 'artifact.file.downloadable');
    assert.equal(contextValueFor(node({ kind: 'experiment' })), 'artifact.experiment');
    assert.equal(contextValueFor(node({ kind: 'run', downloadable: false })), 'artifact.run');
  });
  it('marks filtered experiments and the actions of broken nodes, keeping downloadable last', () => {
    assert.equal(contextValueFor(node({ kind: 'experiment' }), { filtered: true }), 'artifact.experiment.filtered');
    assert.equal(
      contextValueFor(node({ kind: 'workspace', error: 'Not signed in', errorKind: 'notSignedIn' })),
      'artifact.workspace.signIn.retry',
    );
    assert.equal(
      contextValueFor(node({ kind: 'workspace', error: 'Azure ML answered 500', errorKind: 'serverError' })),
      'artifact.workspace.retry',
    );
    assert.equal(contextValueFor(node({ kind: 'workspace', error: 'Folder not found' })), 'artifact.workspace');
  });
});

describe('downloadSummary', () => {
  it('counts files and bytes', () => {
    assert.equal(
      downloadSummary('outputs', { path: '/tmp/d/outputs', files: 3, bytes: 2048 }),
      'Downloaded outputs (3 files, 2.0 KiB) to /tmp/d/outputs',
    );
  });
  it('uses the singular for one file', () => {
    assert.equal(
      downloadSummary('model.pkl', { path: '/tmp/d/model.pkl', files: 1, bytes: 10 }),
      'Downloaded model.pkl (1 file, 10 B) to /tmp/d/model.pkl',
    );
  });
});

describe('errorTooltipText', () => {
  it('shows the preview error alone for a healthy node', () => {
    assert.equal(errorTooltipText(undefined, 'NotFound: gone'), 'NotFound: gone');
  });
  it('shows the node error first, then the preview error', () => {
    assert.equal(errorTooltipText('Folder not found.', 'does not exist'), '⚠ Folder not found.\n\ndoes not exist');
  });
  it('says it once when both errors are the same', () => {
    assert.equal(errorTooltipText('run.json is not valid JSON', 'run.json is not valid JSON '), '⚠ run.json is not valid JSON');
  });
});

describe('download results', () => {
  it('mentions files already there and failures', () => {
    const failures = [{ uri: 'u', path: '/d/x/CON', reason: 'boom' }];
    assert.equal(
      downloadSummary('x', { path: '/d/x', files: 2, bytes: 10, skipped: 3, failures }),
      'Downloaded x (2 files, 10 B; 3 already there, 1 failed) to /d/x',
    );
  });
  it('lists failures, capped', () => {
    const failures = Array.from({ length: 12 }, (_, i) => ({ uri: `u${i}`, path: `/d/f${i}`, reason: 'r' }));
    const detail = downloadFailuresDetail(failures, 2);
    assert.equal(detail, '/d/f0: r\n/d/f1: r\n… and 10 more (see the output log)');
  });
  it('asks about conflicts with the names shown', () => {
    assert.deepEqual(conflictQuestion('run', '/tmp', 5, ['run/a', 'run/b']), {
      message: 'Downloading run: 5 files already exist in /tmp and differ.',
      detail: 'run/a\nrun/b\n… and 3 more',
    });
    assert.equal(conflictQuestion('f', '/t', 1, ['f']).message, 'Downloading f: 1 file already exists in /t and differs.');
  });
  it('formats transfer rates in decimal units', () => {
    assert.equal(formatRate(350e6), '350.0 MB/s');
    assert.equal(formatRate(999), '999 B/s');
    assert.equal(formatRate(1.5e9), '1.5 GB/s');
  });
});

describe('package.json menus', () => {
  // The `viewItem =~ /.../` of each item menu entry, by command.
  const manifest = JSON.parse(readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8')) as {
    contributes: { menus: { 'view/item/context': { command: string; when: string }[] } };
  };
  const patterns = (command: string): RegExp[] =>
    manifest.contributes.menus['view/item/context']
      .filter((entry) => entry.command === command)
      .map((entry) => /viewItem =~ \/(.*)\/$/.exec(entry.when)?.[1])
      .filter((source): source is string => source !== undefined)
      .map((source) => new RegExp(source));
  const shows = (command: string, contextValue: string): boolean => {
    const found = patterns(command);
    assert.ok(found.length > 0, command);
    return found.every((pattern) => pattern.test(contextValue));
  };
  const experiment = contextValueFor(node({ kind: 'experiment' }));
  const filtered = contextValueFor(node({ kind: 'experiment' }), { filtered: true });
  const signIn = contextValueFor(node({ kind: 'workspace', error: 'x', errorKind: 'expired' }));
  const retry = contextValueFor(node({ kind: 'workspace', error: 'x', errorKind: 'unreachable' }));

  it('offers Filter Runs on experiments and Clear Filter on filtered ones', () => {
    assert.ok(shows('amlArtifacts.filterRuns', experiment) && shows('amlArtifacts.filterRuns', filtered));
    assert.ok(!shows('amlArtifacts.filterRuns', contextValueFor(node({ kind: 'run', downloadable: true }))));
    assert.ok(shows('amlArtifacts.clearRunFilter', filtered) && !shows('amlArtifacts.clearRunFilter', experiment));
  });
  it('offers Sign in and Retry on broken workspaces by their error kind', () => {
    assert.ok(shows('amlArtifacts.signIn', signIn) && shows('amlArtifacts.retry', signIn));
    assert.ok(!shows('amlArtifacts.signIn', retry) && shows('amlArtifacts.retry', retry));
    assert.ok(!shows('amlArtifacts.download', signIn));
  });
});
