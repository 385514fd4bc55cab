import { randomUUID } from 'node:crypto';
import * as vscode from 'vscode';
import { PercentageTracker } from '../common/progress';
import {
  type ArtifactNode,
  type DownloadResult,
  downloadConflicts,
  errorKind,
  errorMessage,
  type OnConflict,
} from '../common/protocol';
import type { ArtifactServer } from '../common/server';
import { readSettings } from '../common/settings';
import { conflictQuestion, downloadFailuresDetail, downloadSummary, formatRate } from '../format';
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
  const started = Date.now();
  try {
    const result = await transfer(server, node, dest, 'ask').catch(async (error: unknown) => {
      const choice = errorKind(error) === 'AlreadyExists' ? await askOnConflict(node, dest, error) : undefined;
      if (choice === undefined) {
        throw error;
      }
      return transfer(server, node, dest, choice);
    });
    await reportResult(node, result, (Date.now() - started) / 1000);
  } catch (error) {
    if (isCancellation(error)) {
      void vscode.window.showInformationMessage(
        'Download cancelled: no partial file was left at its final name (files already complete stay).',
      );
    } else if (errorKind(error) !== 'AlreadyExists') {
      void vscode.window.showErrorMessage(`Downloading ${node.name} failed: ${errorMessage(error)}`);
    }
  }
}

async function transfer(
  server: ArtifactServer,
  node: ArtifactNode,
  dest: string,
  onConflict: OnConflict,
): Promise<DownloadResult> {
  const options = {
    location: vscode.ProgressLocation.Notification,
    cancellable: true,
    title: `Downloading ${node.name}`,
  };
  return await vscode.window.withProgress(options, async (progress, cancellation) => {
    const workDoneToken = randomUUID();
    const percentage = new PercentageTracker();
    // The server's message: "3/10 files · 1.2 MB of 4.0 MB · 35.2 MB/s · 4 s left".
    const subscription = await server.onProgress(workDoneToken, (value) => {
      if (value.kind !== 'end') {
        progress.report({ increment: percentage.advance(value.percentage), message: value.message });
      }
    });
    try {
      const params = { uri: node.uri, dest, overwrite: onConflict === 'overwrite', onConflict, workDoneToken };
      return await server.request('artifacts/download', params, cancellation);
    } finally {
      subscription.dispose();
    }
  });
}

/** "Overwrite N files" / "Skip existing" / Cancel (undefined). */
async function askOnConflict(node: ArtifactNode, dest: string, error: unknown): Promise<OnConflict | undefined> {
  const found = downloadConflicts(error);
  if (found === undefined) {
    return (await confirmOverwrite(node, dest, errorMessage(error))) ? 'overwrite' : undefined;
  }
  const { message, detail } = conflictQuestion(node.name, dest, found.count, found.conflicts);
  const overwrite = found.count === 1 ? 'Overwrite 1 file' : `Overwrite ${found.count} files`;
  const skip = 'Skip existing';
  const choice = await vscode.window.showWarningMessage(message, { modal: true, detail }, overwrite, skip);
  return choice === overwrite ? 'overwrite' : choice === skip ? 'skip' : undefined;
}

async function confirmOverwrite(node: ArtifactNode, dest: string, detail: string): Promise<boolean> {
  const choice = await vscode.window.showWarningMessage(
    `${node.name} already exists in ${dest}. Overwrite?`,
    { modal: true, detail },
    'Overwrite',
  );
  return choice === 'Overwrite';
}

async function reportResult(node: ArtifactNode, result: DownloadResult, seconds: number): Promise<void> {
  const rate = seconds > 0.5 && result.bytes > 0 ? ` at ${formatRate(result.bytes / seconds)}` : '';
  const summary = `${downloadSummary(node.name, result)}${rate}`;
  const failures = result.failures ?? [];
  if (failures.length > 0) {
    const choice = await vscode.window.showWarningMessage(
      summary,
      { modal: true, detail: `Not downloaded:\n${downloadFailuresDetail(failures)}` },
      'Reveal',
    );
    if (choice === 'Reveal') {
      await vscode.commands.executeCommand('revealFileInOS', vscode.Uri.file(result.path));
    }
    return;
  }
  const choice = await vscode.window.showInformationMessage(summary, 'Reveal', 'Open');
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
