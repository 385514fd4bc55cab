import * as vscode from 'vscode';
import type { ExplorerProvider } from '../tree/explorerProvider';

export function registerRefreshCommand(explorer: ExplorerProvider): vscode.Disposable {
  return vscode.commands.registerCommand('amlArtifacts.refresh', () => {
    explorer.refresh();
  });
}
