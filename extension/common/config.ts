// The amlArtifacts.* settings as the server receives them (docs/protocol.md, "Configuration").
// No `vscode` import: unit-testable.

export const SECTION = 'amlArtifacts';

export interface ArtifactSettings {
  localWorkspaces: string[];
  pageSize: number;
  downloadDirectory: string;
  python: string;
}

export const PAGE_SIZE = { default: 100, min: 10, max: 1000 } as const;

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
  };
}

export function clampPageSize(value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    return PAGE_SIZE.default;
  }
  return Math.min(PAGE_SIZE.max, Math.max(PAGE_SIZE.min, Math.round(value)));
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
