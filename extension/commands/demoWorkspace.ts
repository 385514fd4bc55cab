import { spawn } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import * as vscode from 'vscode';
import type { ArtifactServer } from '../common/server';
import { addLocalWorkspace } from '../common/settings';

const DEMO_FOLDER_NAME = 'demo-workspace';

export function registerDemoWorkspaceCommand(
  globalStorage: vscode.Uri,
  server: ArtifactServer,
  log: vscode.LogOutputChannel,
): vscode.Disposable {
  return vscode.commands.registerCommand('amlArtifacts.createDemoWorkspace', async () => {
    const dir = await chooseDemoFolder(globalStorage);
    if (dir === undefined) {
      return;
    }
    const python = await server.python();
    const failure = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, cancellable: true, title: 'Creating the demo workspace' },
      (_progress, token) => runDemoWorkspace(python, dir, log, token),
    );
    if (failure !== undefined) {
      const choice = await vscode.window.showErrorMessage(
        `Creating the demo workspace with ${python} failed: ${failure}`,
        'Show Log',
      );
      if (choice === 'Show Log') {
        log.show();
      }
      return;
    }
    if (!(await addLocalWorkspace(dir))) {
      await vscode.commands.executeCommand('amlArtifacts.refresh');
    }
    void vscode.window.showInformationMessage(`Demo workspace created in ${dir}.`);
  });
}

async function chooseDemoFolder(globalStorage: vscode.Uri): Promise<string | undefined> {
  const inStorage = join(globalStorage.fsPath, DEMO_FOLDER_NAME);
  const choices = [
    { label: 'Create in extension storage', detail: inStorage, folder: inStorage },
    { label: 'Choose folder…', detail: `Creates a "${DEMO_FOLDER_NAME}" folder in the folder you choose` },
  ];
  const choice = await vscode.window.showQuickPick(choices, { title: 'Where should the demo workspace go?' });
  if (choice === undefined || 'folder' in choice) {
    return choice?.folder;
  }
  const picked = await vscode.window.showOpenDialog({
    canSelectFolders: true,
    canSelectFiles: false,
    canSelectMany: false,
    openLabel: 'Create Demo Workspace Here',
  });
  const parent = picked?.[0]?.fsPath;
  return parent === undefined ? undefined : join(parent, DEMO_FOLDER_NAME);
}

/** Runs `<python> -m pyserver demo-workspace <dir>`; undefined on success, else what went wrong. */
async function runDemoWorkspace(
  python: string,
  dir: string,
  log: vscode.LogOutputChannel,
  token: vscode.CancellationToken,
): Promise<string | undefined> {
  await mkdir(join(dir, '..'), { recursive: true });
  log.info(`Running ${python} -m pyserver demo-workspace ${dir}`);
  return new Promise((resolve) => {
    const child = spawn(python, ['-m', 'pyserver', 'demo-workspace', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    let lastError = '';
    createInterface({ input: child.stdout }).on('line', (line) => {
      log.info(line);
    });
    createInterface({ input: child.stderr }).on('line', (line) => {
      log.warn(line);
      lastError = line.trim() || lastError;
    });
    const cancellation = token.onCancellationRequested(() => child.kill());
    child.on('error', (error) => {
      cancellation.dispose();
      resolve(error.message);
    });
    child.on('close', (code, signal) => {
      cancellation.dispose();
      if (token.isCancellationRequested) {
        resolve('cancelled');
      } else {
        resolve(code === 0 ? undefined : lastError || `exit code ${code ?? signal ?? 'unknown'}`);
      }
    });
  });
}
