import * as vscode from 'vscode';
import { addLocalWorkspace } from '../common/settings';

export function registerAddLocalWorkspaceCommand(): vscode.Disposable {
  return vscode.commands.registerCommand('amlArtifacts.addLocalWorkspace', async () => {
    const picked = await vscode.window.showOpenDialog({
      canSelectFolders: true,
      canSelectFiles: false,
      canSelectMany: false,
      openLabel: 'Add Workspace',
      title: 'Choose a local workspace folder (it holds workspace.json)',
    });
    const folder = picked?.[0]?.fsPath;
    if (folder !== undefined && !(await addLocalWorkspace(folder))) {
      void vscode.window.showInformationMessage(`${folder} is already in amlArtifacts.localWorkspaces.`);
    }
  });
}
