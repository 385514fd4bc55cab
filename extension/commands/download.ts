import { randomUUID } from 'node:crypto';
import * as vscode from 'vscode';
import { PercentageTracker } from '../common/progress';
import { type ArtifactNode, type DownloadResult, errorKind, errorMessage } from '../common/protocol';
import type { ArtifactServer } from '../common/server';
import { readSettings } from '../common/settings';
import { downloadSummary } from '../format';
import { type ExplorerElement, targetNode } from '../tree/elements';

export function registerDownloadCommand(
  server: ArtifactServer,
  view: vscode.TreeView<ExplorerElement>,
): vscode.Disposable {
  return vscode.commands.registerCommand('amlArtifacts.download', async (arg?: unknown) => {
    const node = targetNode(arg, view.selection);
    if (node === undefined) {
      void vscode.window.showInformationMessage('Select an artifact in the AzureML Artifacts explorer first.');
      return;
    }
    const dest = await chooseDestination();
    if (dest !== undefined) {
      await download(server, node, dest);
    }
  });
}

async function chooseDestination(): Promise<string | undefined> {
  const configured = readSettings().downloadDirectory;
  if (configured !== '') {
    return configured;
  }
  const picked = await vscode.window.showOpenDialog({
    canSelectFolders: true,
    canSelectFiles: false,
    canSelectMany: false,
    openLabel: 'Download Here',
    title: 'Download to folder',
  });
  return picked?.[0]?.fsPath;
}

async function download(server: ArtifactServer, node: ArtifactNode, dest: string): Promise<void> {
  try {
    const result = await transfer(server, node, dest, false).catch(async (error: unknown) => {
      if (errorKind(error) !== 'AlreadyExists' || !(await confirmOverwrite(node, dest, errorMessage(error)))) {
        throw error;
      }
      return transfer(server, node, dest, true);
    });
    await reportSuccess(node, result);
  } catch (error) {
    if (isCancellation(error)) {
      void vscode.window.showInformationMessage('Download cancelled');
    } else if (errorKind(error) !== 'AlreadyExists') {
      void vscode.window.showErrorMessage(`Downloading ${node.name} failed: ${errorMessage(error)}`);
    }
  }
}

async function transfer(
  server: ArtifactServer,
  node: ArtifactNode,
  dest: string,
  overwrite: boolean,
): Promise<DownloadResult> {
  const options = {
    location: vscode.ProgressLocation.Notification,
    cancellable: true,
    title: `Downloading ${node.name}`,
  };
  return await vscode.window.withProgress(options, async (progress, cancellation) => {
    const workDoneToken = randomUUID();
    const percentage = new PercentageTracker();
    const subscription = await server.onProgress(workDoneToken, (value) => {
      if (value.kind !== 'end') {
        progress.report({ increment: percentage.advance(value.percentage), message: value.message });
      }
    });
    try {
      const params = { uri: node.uri, dest, overwrite, workDoneToken };
      return await server.request('artifacts/download', params, cancellation);
    } finally {
      subscription.dispose();
    }
  });
}

async function confirmOverwrite(node: ArtifactNode, dest: string, detail: string): Promise<boolean> {
  const choice = await vscode.window.showWarningMessage(
    `${node.name} already exists in ${dest}. Overwrite?`,
    { modal: true, detail },
    'Overwrite',
  );
  return choice === 'Overwrite';
}

async function reportSuccess(node: ArtifactNode, result: DownloadResult): Promise<void> {
  const choice = await vscode.window.showInformationMessage(downloadSummary(node.name, result), 'Reveal', 'Open');
  const target = vscode.Uri.file(result.path);
  if (choice === 'Reveal') {
    await vscode.commands.executeCommand('revealFileInOS', target);
  } else if (choice === 'Open') {
    await (node.kind === 'file'
      ? vscode.commands.executeCommand('vscode.open', target)
      : vscode.commands.executeCommand('vscode.openFolder', target, { forceNewWindow: true }));
  }
}

function isCancellation(error: unknown): boolean {
  return error instanceof vscode.CancellationError || errorKind(error) === 'RequestCancelled';
}
