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
    if (folder !== undefined) {
      await addLocalWorkspaceFolder(folder);
    }
  });
}

/** Adds `folder` to amlArtifacts.localWorkspaces (the explorer then shows it), or says it is
 * there already. */
export async function addLocalWorkspaceFolder(folder: string): Promise<void> {
  if (!(await addLocalWorkspace(folder))) {
    void vscode.window.showInformationMessage(`${folder} is already in amlArtifacts.localWorkspaces.`);
  }
}
