import * as vscode from 'vscode';
import type { RunFilter } from '../common/protocol';
import { type ArtifactElement, type ExplorerElement, isArtifactElement } from '../tree/elements';
import type { ExplorerProvider } from '../tree/explorerProvider';
import { RUN_STATUSES, type RunFilters, parseTagInput } from '../tree/runFilters';

export const FILTER_RUNS_COMMAND = 'amlArtifacts.filterRuns';
export const CLEAR_RUN_FILTER_COMMAND = 'amlArtifacts.clearRunFilter';

/** "Filter Runs…" (status and tag of an experiment's runs) and "Clear Filter". */
export function registerRunFilterCommands(
  explorer: ExplorerProvider,
  filters: RunFilters,
  view: vscode.TreeView<ExplorerElement>,
): vscode.Disposable {
  return vscode.Disposable.from(
    vscode.commands.registerCommand(FILTER_RUNS_COMMAND, async (arg?: unknown) => {
      const element = experimentElement(arg, view.selection);
      if (element === undefined) {
        void vscode.window.showInformationMessage('Select an experiment in the AzureML Artifacts explorer to filter its runs.');
        return;
      }
      const filter = await askFilter(element.node.name, filters.get(element.node.uri));
      if (filter !== undefined) {
        await filters.set(element.node.uri, filter);
        explorer.refreshNode(element);
      }
    }),
    vscode.commands.registerCommand(CLEAR_RUN_FILTER_COMMAND, async (arg?: unknown) => {
      const element = experimentElement(arg, view.selection);
      if (element !== undefined) {
        await filters.set(element.node.uri, undefined);
        explorer.refreshNode(element);
      }
    }),
  );
}

function experimentElement(arg: unknown, selection: readonly ExplorerElement[]): ArtifactElement | undefined {
  const candidates = isArtifactElement(arg) ? [arg] : selection.filter(isArtifactElement);
  return candidates.find((element) => element.node.kind === 'experiment');
}

/** The new filter ({} filters nothing), or undefined when the user cancelled. */
async function askFilter(experiment: string, current: RunFilter | undefined): Promise<RunFilter | undefined> {
  const chosen = new Set(current?.status ?? []);
  const statuses = [...RUN_STATUSES, ...[...chosen].filter((s) => !RUN_STATUSES.includes(s))];
  const picked = await vscode.window.showQuickPick(
    statuses.map((status) => ({ label: status, picked: chosen.has(status) })),
    {
      canPickMany: true,
      title: `Filter runs of ${experiment} (1/2): status`,
      placeHolder: 'Statuses to show (none: any status)',
      ignoreFocusOut: true,
    },
  );
  if (picked === undefined) {
    return undefined;
  }
  const tag = await vscode.window.showInputBox({
    title: `Filter runs of ${experiment} (2/2): tag`,
    prompt: 'Runs with this tag: key, or key=value (empty: any tags)',
    placeHolder: 'stage=prod',
    value: current?.tag ?? '',
    ignoreFocusOut: true,
    validateInput: (text) => parseTagInput(text).error,
  });
  if (tag === undefined) {
    return undefined;
  }
  const filter: RunFilter = {};
  if (picked.length > 0) {
    filter.status = picked.map((item) => item.label);
  }
  const parsed = parseTagInput(tag).tag;
  if (parsed !== undefined) {
    filter.tag = parsed;
  }
  return filter;
}
