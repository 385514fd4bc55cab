import { homedir } from 'node:os';
import * as vscode from 'vscode';
import { type ArtifactSettings, normalizeSettings, SECTION, withFolder } from './config';

export function readSettings(): ArtifactSettings {
  const config = vscode.workspace.getConfiguration(SECTION);
  return normalizeSettings(
    {
      localWorkspaces: config.get('localWorkspaces'),
      pageSize: config.get('pageSize'),
      downloadDirectory: config.get('downloadDirectory'),
      python: config.get('python'),
      previewWorkers: config.get('previewWorkers'),
      previewMemoryMB: config.get('previewMemoryMB'),
      downloadConcurrency: config.get('downloadConcurrency'),
      downloadChunkMB: config.get('downloadChunkMB'),
      datastores: config.get('datastores'),
      workspaces: config.get('workspaces'),
    },
    homedir(),
  );
}

export interface SettingsChange {
  settings: ArtifactSettings;
  pythonChanged: boolean;
}

export function onDidChangeSettings(listener: (change: SettingsChange) => void): vscode.Disposable {
  return vscode.workspace.onDidChangeConfiguration((event) => {
    if (event.affectsConfiguration(SECTION)) {
      listener({
        settings: readSettings(),
        pythonChanged: event.affectsConfiguration(`${SECTION}.python`),
      });
    }
  });
}

/** Adds `folder` to amlArtifacts.localWorkspaces; false when it is listed already. */
export async function addLocalWorkspace(folder: string): Promise<boolean> {
  const config = vscode.workspace.getConfiguration(SECTION);
  const inspected = config.inspect<string[]>('localWorkspaces');
  // A workspace-level value hides the global one, so a folder added globally would not show.
  const inWorkspace = inspected?.workspaceValue !== undefined;
  const current = (inWorkspace ? inspected.workspaceValue : inspected?.globalValue) ?? [];
  if (readSettings().localWorkspaces.includes(folder)) {
    return false;
  }
  const next = withFolder(current, folder);
  if (next === undefined) {
    return false;
  }
  const target = inWorkspace ? vscode.ConfigurationTarget.Workspace : vscode.ConfigurationTarget.Global;
  await config.update('localWorkspaces', next, target);
  return true;
}

export function openSettings(key = SECTION): Thenable<unknown> {
  return vscode.commands.executeCommand('workbench.action.openSettings', key);
}
