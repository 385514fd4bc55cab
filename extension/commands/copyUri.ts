import * as vscode from 'vscode';
import { type ExplorerElement, targetNode } from '../tree/elements';

export function registerCopyUriCommand(view: vscode.TreeView<ExplorerElement>): vscode.Disposable {
  return vscode.commands.registerCommand('amlArtifacts.copyUri', async (arg?: unknown) => {
    const node = targetNode(arg, view.selection);
    if (node === undefined) {
      void vscode.window.showInformationMessage('Select an artifact in the AzureML Artifacts explorer first.');
      return;
    }
    await vscode.env.clipboard.writeText(node.uri);
    vscode.window.setStatusBarMessage(`Copied ${node.uri}`, 3000);
  });
}
