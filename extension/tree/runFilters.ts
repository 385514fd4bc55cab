// Run filters of experiments (docs/protocol.md, `filter` of artifacts/children), kept per
// experiment URI in the workspace state. No `vscode` import: unit-testable.
import type { RunFilter } from '../common/protocol';

/** What a VS Code Memento offers (context.workspaceState). */
export interface MementoLike {
  get(key: string): unknown;
  update(key: string, value: unknown): PromiseLike<void>;
}

export const RUN_FILTERS_KEY = 'amlArtifacts.runFilters';

/** The statuses the filter offers, most useful first (Azure ML v1 run statuses). */
export const RUN_STATUSES: readonly string[] = [
  'Completed',
  'Failed',
  'Running',
  'Canceled',
  'Queued',
  'NotStarted',
  'Preparing',
  'Starting',
  'Provisioning',
  'Finalizing',
  'CancelRequested',
];

const STATUS = /^[A-Za-z]{1,40}$/;

/** The filter as the server wants it, or undefined when it filters nothing. */
export function normalizeFilter(raw: unknown): RunFilter | undefined {
  if (typeof raw !== 'object' || raw === null) {
    return undefined;
  }
  const filter = raw as { status?: unknown; tag?: unknown };
  const statuses = Array.isArray(filter.status)
    ? [...new Set(filter.status.filter((s): s is string => typeof s === 'string' && STATUS.test(s)))]
    : [];
  const tag = typeof filter.tag === 'string' ? filter.tag.trim() : '';
  const result: RunFilter = {};
  if (statuses.length > 0) {
    result.status = statuses;
  }
  if (tag !== '' && parseTagInput(tag).error === undefined) {
    result.tag = tag;
  }
  return result.status === undefined && result.tag === undefined ? undefined : result;
}

/** Checks what the user typed as a tag: "", "key" or "key=value". */
export function parseTagInput(text: string): { tag?: string; error?: string } {
  const tag = text.trim();
  if (tag === '') {
    return {};
  }
  const key = tag.split('=', 1)[0]?.trim() ?? '';
  if (key === '') {
    return { error: 'Give a tag name: key, or key=value.' };
  }
  if (tag.length > 1024) {
    return { error: 'The tag filter is too long.' };
  }
  return { tag };
}

/** "Failed, Running · tag stage=prod": what the experiment row shows. */
export function describeRunFilter(filter: RunFilter | undefined): string {
  const normal = normalizeFilter(filter);
  if (normal === undefined) {
    return '';
  }
  const parts: string[] = [];
  if (normal.status !== undefined) {
    parts.push(normal.status.join(', '));
  }
  if (normal.tag !== undefined) {
    parts.push(`tag ${normal.tag}`);
  }
  return `filter: ${parts.join(' · ')}`;
}

/** The filter of each experiment URI, persisted in a Memento. */
export class RunFilters {
  constructor(private readonly memento: MementoLike) {}

  get(uri: string): RunFilter | undefined {
    return normalizeFilter(this.all()[uri]);
  }

  /** Sets (or, with nothing to filter, clears) the filter of one experiment. */
  async set(uri: string, filter: RunFilter | undefined): Promise<void> {
    const current = this.all();
    const normal = normalizeFilter(filter);
    if (normal === undefined && !(uri in current)) {
      return;
    }
    const others = Object.entries(current).filter(([key]) => key !== uri);
    const all = Object.fromEntries(normal === undefined ? others : [...others, [uri, normal]]);
    await this.memento.update(RUN_FILTERS_KEY, all);
  }

  private all(): Record<string, unknown> {
    const stored = this.memento.get(RUN_FILTERS_KEY);
    return typeof stored === 'object' && stored !== null && !Array.isArray(stored)
      ? (stored as Record<string, unknown>)
      : {};
  }
}
