// Types, method names and error codes of docs/protocol.md. No `vscode` import: unit-testable.

export type NodeKind =
  | 'workspace'
  | 'experiments'
  | 'datasets'
  | 'models'
  | 'datastores'
  | 'experiment'
  | 'run'
  | 'dataset'
  | 'datasetVersion'
  | 'model'
  | 'modelVersion'
  | 'datastore'
  | 'folder'
  | 'file';

export interface ArtifactNode {
  uri: string;
  name: string;
  kind: NodeKind;
  hasChildren: boolean;
  size?: number;
  modified?: string;
  status?: string;
  durationMs?: number;
  description?: string;
  error?: string;
  /** With `error` on an Azure ML workspace: why, so the tree offers "Sign in" / "Retry". */
  errorKind?: string; // a NodeErrorKind (later servers may add others)
  downloadable?: boolean;
}

export type NodeErrorKind = 'notSignedIn' | 'expired' | 'forbidden' | 'notFound' | 'unreachable' | 'serverError';

/** `filter` of `artifacts/children` on an experiment: which of its runs to list. */
export interface RunFilter {
  status?: string[];
  tag?: string; // "key" or "key=value"
}

export interface Finding {
  severity: 'info' | 'warning' | 'danger';
  message: string;
  global?: string | null; // the module.name a pickle would import, when the finding is about one
  call?: string | null; // the call with its arguments, e.g. os.system('…')
  member?: string; // the archive member the finding is about
}

export interface Preview {
  uri: string;
  kind: string;
  summary: string;
  markdown: string;
  safety: { verdict: 'safe' | 'unsafe' | 'unknown'; findings: Finding[] };
  bytesRead: number;
  truncated: boolean;
  size?: number;
}

export interface Page {
  items: ArtifactNode[];
  nextPageToken?: string;
}

export interface DownloadResult {
  path: string;
  files: number;
  bytes: number;
  skipped?: number; // files already there (identical, or kept by onConflict "skip")
  failures?: DownloadFailure[]; // files not downloaded; the others are complete and verified
  workspace?: string; // with asWorkspace: the local workspace folder the item went into
}

/** A file a download could not write (refused name, network, checksum...). */
export interface DownloadFailure {
  uri: string;
  path: string;
  reason: string;
}

/** What a download does with existing files that differ (identical ones are always skipped). */
export type OnConflict = 'ask' | 'skip' | 'overwrite';

/** `data` of an AlreadyExists error from `artifacts/download` with onConflict "ask". */
export function downloadConflicts(error: unknown): { conflicts: string[]; count: number } | undefined {
  const data = (error as { data?: { conflicts?: unknown; conflictCount?: unknown } | null } | null)?.data;
  if (!Array.isArray(data?.conflicts)) {
    return undefined;
  }
  const conflicts = data.conflicts.filter((item): item is string => typeof item === 'string');
  const count = typeof data.conflictCount === 'number' ? data.conflictCount : conflicts.length;
  return { conflicts, count };
}

/** Request method → [params, result]. */
export interface Requests {
  'artifacts/roots': [{ refresh?: boolean }, { items: ArtifactNode[] }];
  'artifacts/children': [
    { uri: string; pageToken?: string; pageSize?: number; refresh?: boolean; filter?: RunFilter },
    Page,
  ];
  'artifacts/preview': [{ uri: string; maxBytes?: number; timeoutMs?: number }, Preview];
  'artifacts/download': [
    {
      uri: string;
      dest: string;
      overwrite?: boolean;
      onConflict?: OnConflict;
      workDoneToken?: string;
      /** `dest` is a local workspace; `uri` a run, model version or dataset version. */
      asWorkspace?: boolean;
    },
    DownloadResult,
  ];
  'artifacts/signIn': [SignInParams, SignInResult];
}

/** `artifacts/signIn`: only on the user's request; the browser opens where the server runs. */
export interface SignInParams {
  method: 'browser';
  tenantId?: string; // else the workspace's config.json `tenant_id`, else "organizations"
  uri?: string; // the node signed in from
  timeoutMs?: number; // time to finish in the browser (default 5 minutes)
}

export interface SignInResult {
  method: 'browser';
  account: string;
  tenantId: string;
  authority: string;
}

export type RequestMethod = keyof Requests;
export type ParamsOf<M extends RequestMethod> = Requests[M][0];
export type ResultOf<M extends RequestMethod> = Requests[M][1];

export const DID_CHANGE_ROOTS = 'artifacts/didChangeRoots';

export const ErrorCode = {
  InvalidParams: -32602,
  RequestCancelled: -32800,
  NotFound: -31001,
  AlreadyExists: -31002,
  PermissionDenied: -31003,
  NotSignedIn: -31003, // a PermissionDenied the user fixes by signing in (`az login`)
  CorruptArtifact: -31004,
  UnsafePath: -31005,
  Unavailable: -31006,
  Unsupported: -31007,
  PreviewFailed: -31008,
} as const;

export type ErrorKind = keyof typeof ErrorCode;

/** The error kind of a JSON-RPC error response (from `data.kind`, else from the code). */
export function errorKind(error: unknown): ErrorKind | undefined {
  if (typeof error !== 'object' || error === null) {
    return undefined;
  }
  const { code, data } = error as { code?: unknown; data?: { kind?: unknown } | null };
  const kinds = Object.keys(ErrorCode) as ErrorKind[];
  const byData = kinds.find((kind) => kind === data?.kind);
  return byData ?? kinds.find((kind) => ErrorCode[kind] === code);
}

export function errorMessage(error: unknown): string {
  if (error instanceof Error) {
    return error.message;
  }
  if (typeof error === 'object' && error !== null && 'message' in error) {
    return String(error.message);
  }
  return String(error);
}
