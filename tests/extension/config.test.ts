import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { clampPageSize, expandHome, normalizeSettings, withFolder } from '../../extension/common/config';

describe('normalizeSettings', () => {
  it('maps the settings to the initializationOptions object of docs/protocol.md', () => {
    const settings = normalizeSettings(
      {
        localWorkspaces: ['/data/ws'],
        pageSize: 50,
        downloadDirectory: '/tmp/dl',
        python: '/usr/bin/python3',
        previewWorkers: 4,
        previewMemoryMB: 1024,
        datastores: [{ name: 'blob', container: 'data', connectionString: 'UseDevelopmentStorage=true' }],
        workspaces: [{ subscriptionId: 's', resourceGroup: 'rg', name: 'ws' }],
      },
      '/home/me',
    );
    assert.deepEqual(settings, {
      localWorkspaces: ['/data/ws'],
      pageSize: 50,
      downloadDirectory: '/tmp/dl',
      python: '/usr/bin/python3',
      previewWorkers: 4,
      previewMemoryMB: 1024,
      downloadConcurrency: 8,
      downloadChunkMB: 8,
      datastores: [{ name: 'blob', container: 'data', connectionString: 'UseDevelopmentStorage=true' }],
      workspaces: [{ subscriptionId: 's', resourceGroup: 'rg', name: 'ws' }],
    });
  });
  it('gives the defaults for missing or mistyped values', () => {
    assert.deepEqual(normalizeSettings({ localWorkspaces: 'nope', pageSize: '7', python: 3 }, '/home/me'), {
      localWorkspaces: [],
      pageSize: 100,
      downloadDirectory: '',
      python: '',
      previewWorkers: 2,
      previewMemoryMB: 2048,
      downloadConcurrency: 8,
      downloadChunkMB: 8,
      datastores: [],
      workspaces: [],
    });
  });
  it('passes Azure ML workspaces through: complete, trimmed, each once', () => {
    const settings = normalizeSettings(
      {
        workspaces: [
          { subscriptionId: ' sub ', resourceGroup: 'rg', name: 'ws', color: 'blue' },
          { subscriptionId: 'SUB', resourceGroup: 'RG', name: 'WS' },
          { subscriptionId: 'sub', resourceGroup: 'rg' },
          { subscriptionId: 'sub', resourceGroup: 'rg', name: 3 },
          'nope',
          null,
          { subscriptionId: 'sub', resourceGroup: 'rg', name: 'other' },
        ],
      },
      '/home/me',
    );
    assert.deepEqual(settings.workspaces, [
      { subscriptionId: 'sub', resourceGroup: 'rg', name: 'ws' },
      { subscriptionId: 'sub', resourceGroup: 'rg', name: 'other' },
    ]);
    assert.deepEqual(normalizeSettings({ workspaces: { name: 'x' } }, '/h').workspaces, []);
  });
  it('passes datastores through with only the keys the server reads', () => {
    const settings = normalizeSettings(
      {
        datastores: [
          {
            name: ' remote ',
            container: 'c',
            accountUrl: 'https://a.blob.core.windows.net',
            credential: { sasToken: 'sv=1&sig=x', extra: 1 },
            color: 'blue',
          },
          { name: 'nocontainer' },
          'nope',
          null,
          { name: 'key', container: 'c', accountUrl: 'https://b', credential: { accountKey: 'k', sasToken: 3 } },
        ],
      },
      '/home/me',
    );
    assert.deepEqual(settings.datastores, [
      {
        name: 'remote',
        container: 'c',
        accountUrl: 'https://a.blob.core.windows.net',
        credential: { sasToken: 'sv=1&sig=x' },
      },
      { name: 'key', container: 'c', accountUrl: 'https://b', credential: { accountKey: 'k' } },
    ]);
    assert.deepEqual(normalizeSettings({ datastores: { name: 'x' } }, '/h').datastores, []);
  });
  it('keeps the preview pool settings within the bounds the server accepts', () => {
    const settings = normalizeSettings({ previewWorkers: 100, previewMemoryMB: 10 }, '/home/me');
    assert.equal(settings.previewWorkers, 16);
    assert.equal(settings.previewMemoryMB, 256);
  });
  it('drops blank and duplicate workspaces and expands ~', () => {
    const settings = normalizeSettings({ localWorkspaces: ['~/ws', ' ', 42, '/home/me/ws', '/x'] }, '/home/me');
    assert.deepEqual(settings.localWorkspaces, ['/home/me/ws', '/x']);
  });
});

describe('clampPageSize', () => {
  it('keeps the page size within 10..1000', () => {
    assert.equal(clampPageSize(1), 10);
    assert.equal(clampPageSize(5000), 1000);
    assert.equal(clampPageSize(250.4), 250);
    assert.equal(clampPageSize(Number.NaN), 100);
  });
});

describe('expandHome', () => {
  it('expands only a leading ~', () => {
    assert.equal(expandHome('~', '/h'), '/h');
    assert.equal(expandHome('~/a', '/h'), '/h/a');
    assert.equal(expandHome('/a/~/b', '/h'), '/a/~/b');
    assert.equal(expandHome('~user/a', '/h'), '~user/a');
  });
});

describe('withFolder', () => {
  it('appends a new folder', () => {
    assert.deepEqual(withFolder(['/a'], '/b'), ['/a', '/b']);
  });
  it('refuses a folder that is listed, with or without a trailing separator', () => {
    assert.equal(withFolder(['/a', '/b/'], '/b'), undefined);
    assert.equal(withFolder(['/a'], '/a/'), undefined);
  });
});
