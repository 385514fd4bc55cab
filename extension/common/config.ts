// The amlArtifacts.* settings as the server receives them (docs/protocol.md, "Configuration").
// No `vscode` import: unit-testable.

export const SECTION = 'amlArtifacts';

export interface ArtifactSettings {
  localWorkspaces: string[];
  pageSize: number;
  downloadDirectory: string;
  python: string;
  previewWorkers: number;
  previewMemoryMB: number;
  downloadConcurrency: number;
  downloadChunkMB: number;
  datastores: DatastoreSetting[];
  workspaces: WorkspaceSetting[];
}

/** One Azure ML workspace of amlArtifacts.workspaces. */
export interface WorkspaceSetting {
  subscriptionId: string;
  resourceGroup: string;
  name: string;
}

/** One blob datastore of amlArtifacts.datastores; the server validates it further. */
export interface DatastoreSetting {
  name: string;
  container: string;
  accountUrl?: string;
  connectionString?: string;
  credential?: { sasToken?: string; accountKey?: string };
}

interface Bounds {
  readonly default: number;
  readonly min: number;
  readonly max: number;
}

// The same bounds as package.json and pyserver/config.py.
export const PAGE_SIZE = { default: 100, min: 10, max: 1000 } as const;
export const PREVIEW_WORKERS = { default: 2, min: 1, max: 16 } as const;
export const PREVIEW_MEMORY_MB = { default: 2048, min: 256, max: 1 << 20 } as const;
export const DOWNLOAD_CONCURRENCY = { default: 8, min: 1, max: 64 } as const;
export const DOWNLOAD_CHUNK_MB = { default: 8, min: 1, max: 256 } as const;

/** Settings as the user wrote them → the object sent as initializationOptions. */
export function normalizeSettings(
  raw: Partial<Record<keyof ArtifactSettings, unknown>>,
  homeDir: string,
): ArtifactSettings {
  const expand = (path: string): string => expandHome(path.trim(), homeDir);
  const workspaces = Array.isArray(raw.localWorkspaces) ? raw.localWorkspaces : [];
  return {
    localWorkspaces: unique(
      workspaces
        .filter((item): item is string => typeof item === 'string' && item.trim() !== '')
        .map(expand),
    ),
    pageSize: clampPageSize(raw.pageSize),
    downloadDirectory: typeof raw.downloadDirectory === 'string' ? expand(raw.downloadDirectory) : '',
    python: typeof raw.python === 'string' ? expand(raw.python) : '',
    previewWorkers: clamp(raw.previewWorkers, PREVIEW_WORKERS),
    previewMemoryMB: clamp(raw.previewMemoryMB, PREVIEW_MEMORY_MB),
    downloadConcurrency: clamp(raw.downloadConcurrency, DOWNLOAD_CONCURRENCY),
    downloadChunkMB: clamp(raw.downloadChunkMB, DOWNLOAD_CHUNK_MB),
    datastores: normalizeDatastores(raw.datastores),
    workspaces: normalizeWorkspaces(raw.workspaces),
  };
}

/** Entries with the three names, trimmed; duplicates (names compare case-insensitively, as
 * Azure's do) dropped. */
export function normalizeWorkspaces(raw: unknown): WorkspaceSetting[] {
  if (!Array.isArray(raw)) {
    return [];
  }
  const text = (value: unknown): string | undefined =>
    typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined;
  const seen = new Set<string>();
  const workspaces: WorkspaceSetting[] = [];
  for (const item of raw as unknown[]) {
    if (typeof item !== 'object' || item === null) {
      continue;
    }
    const entry = item as Record<string, unknown>;
    const subscriptionId = text(entry.subscriptionId);
    const resourceGroup = text(entry.resourceGroup);
    const name = text(entry.name);
    if (subscriptionId === undefined || resourceGroup === undefined || name === undefined) {
      continue;
    }
    const key = [subscriptionId, resourceGroup, name].join('/').toLowerCase();
    if (!seen.has(key)) {
      seen.add(key);
      workspaces.push({ subscriptionId, resourceGroup, name });
    }
  }
  return workspaces;
}

/** Entries with a name and a container, reduced to the keys the server reads (it logs and
 * skips entries it cannot use, without their secrets). */
export function normalizeDatastores(raw: unknown): DatastoreSetting[] {
  if (!Array.isArray(raw)) {
    return [];
  }
  const text = (value: unknown): string | undefined =>
    typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined;
  const stores: DatastoreSetting[] = [];
  for (const item of raw as unknown[]) {
    if (typeof item !== 'object' || item === null) {
      continue;
    }
    const entry = item as Record<string, unknown>;
    const name = text(entry.name);
    const container = text(entry.container);
    if (name === undefined || container === undefined) {
      continue;
    }
    const store: DatastoreSetting = { name, container };
    const accountUrl = text(entry.accountUrl);
    const connectionString = text(entry.connectionString);
    if (accountUrl !== undefined) {
      store.accountUrl = accountUrl;
    }
    if (connectionString !== undefined) {
      store.connectionString = connectionString;
    }
    if (typeof entry.credential === 'object' && entry.credential !== null) {
      const credential = entry.credential as Record<string, unknown>;
      const sasToken = text(credential.sasToken);
      const accountKey = text(credential.accountKey);
      store.credential = {
        ...(sasToken === undefined ? {} : { sasToken }),
        ...(accountKey === undefined ? {} : { accountKey }),
      };
    }
    stores.push(store);
  }
  return stores;
}

export function clampPageSize(value: unknown): number {
  return clamp(value, PAGE_SIZE);
}

function clamp(value: unknown, bounds: Bounds): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    return bounds.default;
  }
  return Math.min(bounds.max, Math.max(bounds.min, Math.round(value)));
}

export function expandHome(path: string, homeDir: string): string {
  if (path === '~') {
    return homeDir;
  }
  return /^~[/\\]/.test(path) ? homeDir + path.slice(1) : path;
}

/** `folders` plus `folder`, or undefined when it is already listed (trailing separators ignored). */
export function withFolder(folders: readonly string[], folder: string): string[] | undefined {
  const key = (path: string): string => path.replace(/[/\\]+$/, '') || path;
  return folders.some((existing) => key(existing) === key(folder)) ? undefined : [...folders, folder];
}

function unique(values: string[]): string[] {
  return [...new Set(values)];
}
