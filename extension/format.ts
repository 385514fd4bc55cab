// Pure presentation helpers: no `vscode` import, so plain node tests cover them.
import type { ArtifactNode, DownloadFailure, DownloadResult } from './common/protocol';
import { errorActions } from './tree/elements';

const SEPARATOR = ' · ';

export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) {
    return '';
  }
  // Binary units, named as such: the same figures the server's previews print.
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  // Without this, 1023.96 KiB would round to "1024.0 KiB" instead of "1.0 MiB".
  if (unit < units.length - 1 && Number(value.toFixed(1)) >= 1024) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${units[unit]}`;
}

export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) {
    return '';
  }
  if (ms < 1000) {
    return '<1s';
  }
  const totalSeconds = Math.floor(ms / 1000);
  const days = Math.floor(totalSeconds / 86400);
  const hours = Math.floor((totalSeconds % 86400) / 3600);
  const minutes = Math.floor((totalSeconds % 3600) / 60);
  const seconds = totalSeconds % 60;
  if (days > 0) {
    return `${days}d ${hours}h`;
  }
  if (hours > 0) {
    return `${hours}h ${minutes}m`;
  }
  if (minutes > 0) {
    return `${minutes}m ${seconds}s`;
  }
  return `${seconds}s`;
}

const TIME_UNITS: readonly [name: string, seconds: number][] = [
  ['year', 365 * 86400],
  ['month', 30 * 86400],
  ['week', 7 * 86400],
  ['day', 86400],
  ['hour', 3600],
  ['minute', 60],
];

/** "3 days ago", "in 2 hours", "just now"; '' for a date that cannot be parsed. */
export function formatRelativeTime(iso: string, now: Date): string {
  const then = Date.parse(iso);
  if (Number.isNaN(then)) {
    return '';
  }
  const deltaSeconds = Math.round((now.getTime() - then) / 1000);
  const magnitude = Math.abs(deltaSeconds);
  const unit = TIME_UNITS.find(([, seconds]) => magnitude >= seconds);
  if (unit === undefined) {
    return 'just now';
  }
  const [name, seconds] = unit;
  const count = Math.floor(magnitude / seconds);
  const phrase = `${count} ${name}${count === 1 ? '' : 's'}`;
  return deltaSeconds >= 0 ? `${phrase} ago` : `in ${phrase}`;
}

/** First sentence or line of an error message, cut to fit a tree row. */
export function shortError(message: string, maxLength = 60): string {
  const firstLine = message.trim().split('\n', 1)[0] ?? '';
  const sentenceEnd = firstLine.search(/[.;](\s|$)/);
  const first = sentenceEnd > 0 ? firstLine.slice(0, sentenceEnd) : firstLine;
  return first.length > maxLength ? `${first.slice(0, maxLength - 1).trimEnd()}…` : first;
}

/** What a broken node's tooltip says when its preview failed too (once when both say the same). */
export function errorTooltipText(nodeError: string | undefined, previewError: string): string {
  if (nodeError === undefined) {
    return previewError;
  }
  return nodeError.trim() === previewError.trim() ? `⚠ ${nodeError}` : `⚠ ${nodeError}\n\n${previewError}`;
}

/** The grey text after a tree node's label. */
export function describeNode(node: ArtifactNode, now: Date): string {
  if (node.error !== undefined) {
    return `⚠ ${shortError(node.error)}`;
  }
  const status =
    node.status === undefined
      ? undefined
      : [node.status, node.durationMs === undefined ? '' : formatDuration(node.durationMs)]
          .filter(Boolean)
          .join(' ');
  const parts = [
    node.size === undefined ? undefined : formatBytes(node.size),
    status,
    node.modified === undefined ? undefined : formatRelativeTime(node.modified, now),
    node.description,
  ];
  return parts.filter((part) => part !== undefined && part !== '').join(SEPARATOR);
}

export interface IconChoice {
  /** A codicon id, or 'folder' / 'file' for the file-icon theme's icons. */
  id: string;
  /** A theme color id. */
  color?: string;
}

const RUN_STATUS_ICONS: Record<string, IconChoice> = {
  Completed: { id: 'pass', color: 'testing.iconPassed' },
  Failed: { id: 'error', color: 'errorForeground' },
  Running: { id: 'sync~spin' },
  Finalizing: { id: 'sync~spin' },
  Canceled: { id: 'circle-slash' },
  CancelRequested: { id: 'circle-slash' },
  Queued: { id: 'clock' },
  NotStarted: { id: 'clock' },
  Preparing: { id: 'clock' },
  Starting: { id: 'clock' },
  Provisioning: { id: 'clock' },
};

const KIND_ICONS: Record<Exclude<ArtifactNode['kind'], 'run'>, string> = {
  workspace: 'azure',
  experiments: 'beaker',
  experiment: 'beaker',
  datasets: 'database',
  dataset: 'database',
  datasetVersion: 'tag',
  models: 'package',
  model: 'package',
  modelVersion: 'tag',
  datastores: 'server',
  datastore: 'server',
  folder: 'folder',
  file: 'file',
};

export function iconFor(node: ArtifactNode): IconChoice {
  if (node.error !== undefined) {
    return { id: 'warning', color: 'list.warningForeground' };
  }
  if (node.kind === 'run') {
    return RUN_STATUS_ICONS[node.status ?? ''] ?? { id: 'circle-outline' };
  }
  return { id: KIND_ICONS[node.kind] };
}

/**
 * `artifact.<kind>[.filtered][.signIn][.retry][.downloadable]`: what the package.json menus
 * match on (`filtered`: an experiment with a run filter; `signIn` / `retry`: the actions of a
 * broken node, see errorActions).
 */
export function contextValueFor(node: ArtifactNode, state: { filtered?: boolean } = {}): string {
  const parts = ['artifact', node.kind];
  if (state.filtered === true) {
    parts.push('filtered');
  }
  parts.push(...errorActions(node));
  if (node.downloadable === true) {
    parts.push('downloadable');
  }
  return parts.join('.');
}

export function downloadSummary(name: string, result: DownloadResult): string {
  return `${downloaded(name, result)} to ${result.path}`;
}

/** `Downloaded r1 (3 files, 1.2 KiB; 2 already there, 1 failed)`: the start of a summary. */
export function downloaded(name: string, result: DownloadResult): string {
  const files = `${result.files} ${result.files === 1 ? 'file' : 'files'}`;
  const extra: string[] = [];
  if ((result.skipped ?? 0) > 0) {
    extra.push(`${result.skipped} already there`);
  }
  const failed = result.failures?.length ?? 0;
  if (failed > 0) {
    extra.push(`${failed} failed`);
  }
  const tail = extra.length > 0 ? `; ${extra.join(', ')}` : '';
  return `Downloaded ${name} (${files}, ${formatBytes(result.bytes)}${tail})`;
}

/** The modal's detail: one line per failed file, at most `max`. */
export function downloadFailuresDetail(failures: readonly DownloadFailure[], max = 10): string {
  const lines = failures.slice(0, max).map((failure) => `${failure.path}: ${failure.reason}`);
  if (failures.length > max) {
    lines.push(`… and ${failures.length - max} more (see the output log)`);
  }
  return lines.join('\n');
}

/** The question asked when a download would replace files that differ. */
export function conflictQuestion(name: string, dest: string, count: number, shown: readonly string[]): {
  message: string;
  detail: string;
} {
  const files = count === 1 ? '1 file already exists' : `${count} files already exist`;
  const more = count > shown.length ? `\n… and ${count - shown.length} more` : '';
  return {
    message: `Downloading ${name}: ${files} in ${dest} and ${count === 1 ? 'differs' : 'differ'}.`,
    detail: `${shown.join('\n')}${more}`,
  };
}

/** `12.5 MB/s`, decimal units as the server's progress messages. */
export function formatRate(bytesPerSecond: number): string {
  return `${formatDecimalBytes(bytesPerSecond)}/s`;
}

function formatDecimalBytes(size: number): string {
  if (size < 1000) {
    return `${Math.round(size)} B`;
  }
  let value = size;
  for (const unit of ['kB', 'MB', 'GB', 'TB']) {
    value /= 1000;
    if (value < 1000 || unit === 'TB') {
      return `${value.toFixed(1)} ${unit}`;
    }
  }
  return `${size} B`;
}
