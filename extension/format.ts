// Pure presentation helpers: no `vscode` import, so plain node tests cover them.
import type { ArtifactNode, DownloadResult } from './common/protocol';

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

/** `artifact.<kind>[.downloadable]`: what the package.json menus match on. */
export function contextValueFor(node: ArtifactNode): string {
  return `artifact.${node.kind}${node.downloadable === true ? '.downloadable' : ''}`;
}

export function downloadSummary(name: string, result: DownloadResult): string {
  const files = `${result.files} ${result.files === 1 ? 'file' : 'files'}`;
  return `Downloaded ${name} (${files}, ${formatBytes(result.bytes)}) to ${result.path}`;
}
