// What the download commands decide without VS Code: the name of a typed URI, whether an
// input looks like an accepted URI or path (docs/uris.md), the local workspace choices.
// No `vscode` import: unit-testable.
import { downloaded } from '../format';
import type { DownloadResult, NodeKind } from './protocol';

/** What a download is about: a tree node, or a URI typed in the command palette. */
export interface DownloadTarget {
  uri: string;
  name: string;
  kind?: NodeKind; // unknown for a typed URI
}

/** Node kinds "Download to Local Workspace" applies to (docs/local-workspace.md). */
export const WORKSPACE_KINDS: readonly NodeKind[] = ['run', 'modelVersion', 'datasetVersion'];

const SCHEMES = ['azureml', 'runs', 'file'];

/** Why `text` is not a URI or path the server accepts, or undefined when it may be one. */
export function uriInputProblem(text: string): string | undefined {
  const value = text.trim();
  if (value === '') {
    return 'Enter an artifact URI (azureml://…, azureml:<model>:<version>, runs:/…) or a path.';
  }
  if (value.includes('\0')) {
    return 'The URI contains a NUL character.';
  }
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]+):/.exec(value)?.[1];
  if (scheme !== undefined && !SCHEMES.includes(scheme.toLowerCase())) {
    return `Unsupported URI scheme "${scheme}:": use azureml://…, azureml:<model>:<version>, runs:/…, file://… or a path.`;
  }
  return undefined;
}

/** A label for a typed URI: its last path segment (decoded), or `<model>:<version>`. */
export function nameFromUri(uri: string): string {
  const value = uri.trim();
  const model = /^azureml:([^:/]+):([^:/]+)$/.exec(value);
  if (model !== null) {
    return `${model[1]}:${model[2]}`;
  }
  const path = value.replace(/[?#].*$/, '').replace(/[/\\]+$/, '');
  const last = path.split(/[/\\]/).pop() ?? '';
  let name = last;
  try {
    name = decodeURIComponent(last);
  } catch {
    // not percent-encoded: keep it as it is
  }
  return name === '' || /^[A-Za-z][A-Za-z0-9+.-]*:$/.test(name) ? value : name;
}

export interface WorkspaceChoice {
  label: string;
  description?: string;
  folder?: string; // undefined: "choose a folder"
}

/** `workspace.json`'s `format` in a local workspace (docs/local-workspace.md). */
export const LOCAL_WORKSPACE_FORMAT = 'aml-artifacts/local-workspace';

/** Whether the text of a `workspace.json` is a local workspace's (as the server decides
 * whether an opened folder is shown as one). */
export function isLocalWorkspaceJson(text: string): boolean {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && (value as { format?: unknown }).format === LOCAL_WORKSPACE_FORMAT;
  } catch {
    return false;
  }
}

const folderKey = (folder: string): string => folder.replace(/[/\\]+$/, '') || folder;

/** Whether `folder` is one of `folders` (a trailing separator does not count). */
export function includesFolder(folders: readonly string[], folder: string): boolean {
  return folders.some((existing) => folderKey(existing) === folderKey(folder));
}

/** The local workspaces the explorer shows — the configured ones, then the opened folders
 * that are local workspaces — then "Choose a folder…". */
export function workspaceChoices(configured: readonly string[], opened: readonly string[] = []): WorkspaceChoice[] {
  const listed: string[] = [];
  for (const folder of [...configured, ...opened]) {
    if (!includesFolder(listed, folder)) {
      listed.push(folder);
    }
  }
  const folders = listed.map((folder) => {
    const name = folderKey(folder).split(/[/\\]/).pop() ?? '';
    return { label: name === '' ? folder : name, description: folder, folder };
  });
  return [...folders, { label: '$(folder-opened) Choose a folder…', description: 'a new, empty or local workspace folder' }];
}

/** `Downloaded run r1 (3 files, 1.2 KiB) into the local workspace /ws`-style summary. */
export function workspaceSummary(name: string, result: DownloadResult): string {
  return `${downloaded(name, result)} into the local workspace ${result.workspace ?? result.path}`;
}
