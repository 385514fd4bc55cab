import * as vscode from 'vscode';
import type { ExplorerElement } from '../tree/elements';
import type { ExplorerProvider } from '../tree/explorerProvider';
import { LOAD_MORE_COMMAND } from '../tree/treeItems';

export function registerLoadMoreCommand(explorer: ExplorerProvider): vscode.Disposable {
  return vscode.commands.registerCommand(LOAD_MORE_COMMAND, (element?: ExplorerElement) =>
    element?.type === 'loadMore' ? explorer.loadMore(element) : undefined,
  );
}
