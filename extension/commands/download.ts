import { randomUUID } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import * as vscode from 'vscode';
import {
  type DownloadTarget,
  includesFolder,
  isLocalWorkspaceJson,
  nameFromUri,
  uriInputProblem,
  WORKSPACE_KINDS,
  workspaceChoices,
  workspaceSummary,
} from '../common/downloads';
import { PercentageTracker } from '../common/progress';
import {
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
import { addLocalWorkspaceFolder } from './localWorkspace';

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

/** "Download Artifact URI…": any accepted URI or path (docs/uris.md), typed or pasted. */
export function registerDownloadUriCommand(server: ArtifactServer): vscode.Disposable {
  return vscode.commands.registerCommand('amlArtifacts.downloadUri', async (arg?: unknown) => {
    const typed =
      typeof arg === 'string'
        ? arg
        : await vscode.window.showInputBox({
            title: 'Download Artifact URI',
            prompt: 'azureml://…, azureml:<model>:<version>, runs:/<run>/<path>, file://… or a local path',
            placeHolder: 'azureml://jobs/<run-id>/outputs/artifacts/paths/outputs/model.pkl',
            ignoreFocusOut: true,
            validateInput: uriInputProblem,
          });
    const uri = typed?.trim();
    if (uri === undefined || uri === '' || uriInputProblem(uri) !== undefined) {
      return;
    }
    const dest = await chooseDestination();
    if (dest !== undefined) {
      await download(server, { uri, name: nameFromUri(uri) }, dest);
    }
  });
}

/** "Download to Local Workspace…": a run (with its pipeline steps), a model version or a
 * dataset version into a local workspace folder (docs/local-workspace.md), browsable offline. */
export function registerDownloadToWorkspaceCommand(
  server: ArtifactServer,
  view: vscode.TreeView<ExplorerElement>,
): vscode.Disposable {
  return vscode.commands.registerCommand('amlArtifacts.downloadToWorkspace', async (arg?: unknown) => {
    const node = targetNode(arg, view.selection);
    if (node === undefined || !WORKSPACE_KINDS.includes(node.kind)) {
      void vscode.window.showInformationMessage(
        'Select a run, a model version or a dataset version in the AzureML Artifacts explorer first.',
      );
      return;
    }
    const root = await chooseWorkspaceFolder();
    if (root === undefined) {
      return;
    }
    const result = await download(server, node, root, { asWorkspace: true });
    if (result !== undefined) {
      await offerWorkspace(node.name, result, root);
    }
  });
}

async function chooseWorkspaceFolder(): Promise<string | undefined> {
  const choices = workspaceChoices(readSettings().localWorkspaces, await openedWorkspaces());
  let folder: string | undefined;
  if (choices.length > 1) {
    const picked = await vscode.window.showQuickPick(choices, {
      title: 'Download to Local Workspace',
      placeHolder: 'The local workspace to download into',
    });
    if (picked === undefined) {
      return undefined;
    }
    folder = picked.folder;
  }
  if (folder === undefined) {
    const picked = await vscode.window.showOpenDialog({
      canSelectFolders: true,
      canSelectFiles: false,
      canSelectMany: false,
      openLabel: 'Download Here',
      title: 'Local workspace folder (a new or empty folder, or one with workspace.json)',
    });
    folder = picked?.[0]?.fsPath;
  }
  return folder;
}

/** The opened folders (local ones) that are local workspaces: the explorer shows them. */
async function openedWorkspaces(): Promise<string[]> {
  const folders = openedFolders();
  const found = await Promise.all(
    folders.map(async (folder) => {
      try {
        return isLocalWorkspaceJson(await readFile(join(folder, 'workspace.json'), 'utf8'));
      } catch {
        return false;
      }
    }),
  );
  return folders.filter((_, index) => found[index]);
}

function openedFolders(): string[] {
  return (vscode.workspace.workspaceFolders ?? [])
    .filter((folder) => folder.uri.scheme === 'file')
    .map((folder) => folder.uri.fsPath);
}

/** After a download into a local workspace: offer to show it in the explorer, or refresh the
 * explorer when it shows it already (configured, or an opened folder: the download made it a
 * local workspace if it was not one). */
async function offerWorkspace(name: string, result: DownloadResult, root: string): Promise<void> {
  const workspace = result.workspace ?? root;
  const summary = workspaceSummary(name, result);
  const failures = result.failures ?? [];
  const shown = includesFolder([...readSettings().localWorkspaces, ...openedFolders()], workspace);
  if (shown) {
    await vscode.commands.executeCommand('amlArtifacts.refresh');
  }
  const add = 'Add to Explorer';
  const actions = shown ? ['Reveal'] : [add, 'Reveal'];
  const choice =
    failures.length > 0
      ? await vscode.window.showWarningMessage(
          summary,
          { modal: true, detail: `Not downloaded:\n${downloadFailuresDetail(failures)}` },
          ...actions,
        )
      : await vscode.window.showInformationMessage(
          shown ? summary : `${summary}. Add it to the explorer to browse it offline?`,
          ...actions,
        );
  if (choice === add) {
    await addLocalWorkspaceFolder(workspace);
  } else if (choice === 'Reveal') {
    await vscode.commands.executeCommand('revealFileInOS', vscode.Uri.file(result.path));
  }
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

interface DownloadOptions {
  asWorkspace?: boolean; // `dest` is a local workspace (the result is reported by the caller)
}

/** The download with progress, the conflict question, and (not asWorkspace) the report.
 * The result, or undefined when it failed or was cancelled (the user was told). */
async function download(
  server: ArtifactServer,
  node: DownloadTarget,
  dest: string,
  options: DownloadOptions = {},
): Promise<DownloadResult | undefined> {
  const started = Date.now();
  try {
    const result = await transfer(server, node, dest, 'ask', options).catch(async (error: unknown) => {
      const choice = errorKind(error) === 'AlreadyExists' ? await askOnConflict(node, dest, error) : undefined;
      if (choice === undefined) {
        throw error;
      }
      return transfer(server, node, dest, choice, options);
    });
    if (options.asWorkspace !== true) {
      await reportResult(node, result, (Date.now() - started) / 1000);
    }
    return result;
  } catch (error) {
    if (isCancellation(error)) {
      void vscode.window.showInformationMessage(
        'Download cancelled: no partial file was left at its final name (files already complete stay).',
      );
    } else if (errorKind(error) !== 'AlreadyExists') {
      void vscode.window.showErrorMessage(`Downloading ${node.name} failed: ${errorMessage(error)}`);
    }
    return undefined;
  }
}

async function transfer(
  server: ArtifactServer,
  node: DownloadTarget,
  dest: string,
  onConflict: OnConflict,
  options: DownloadOptions,
): Promise<DownloadResult> {
  const shown = {
    location: vscode.ProgressLocation.Notification,
    cancellable: true,
    title: options.asWorkspace === true ? `Downloading ${node.name} to a local workspace` : `Downloading ${node.name}`,
  };
  return await vscode.window.withProgress(shown, async (progress, cancellation) => {
    const workDoneToken = randomUUID();
    const percentage = new PercentageTracker();
    // The server's message: "3/10 files · 1.2 MB of 4.0 MB · 35.2 MB/s · 4 s left".
    const subscription = await server.onProgress(workDoneToken, (value) => {
      if (value.kind !== 'end') {
        progress.report({ increment: percentage.advance(value.percentage), message: value.message });
      }
    });
    try {
      const params = {
        uri: node.uri,
        dest,
        overwrite: onConflict === 'overwrite',
        onConflict,
        workDoneToken,
        ...(options.asWorkspace === true ? { asWorkspace: true } : {}),
      };
      return await server.request('artifacts/download', params, cancellation);
    } finally {
      subscription.dispose();
    }
  });
}

/** "Overwrite N files" / "Skip existing" / Cancel (undefined). */
async function askOnConflict(node: DownloadTarget, dest: string, error: unknown): Promise<OnConflict | undefined> {
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

async function confirmOverwrite(node: DownloadTarget, dest: string, detail: string): Promise<boolean> {
  const choice = await vscode.window.showWarningMessage(
    `${node.name} already exists in ${dest}. Overwrite?`,
    { modal: true, detail },
    'Overwrite',
  );
  return choice === 'Overwrite';
}

async function reportResult(node: DownloadTarget, result: DownloadResult, seconds: number): Promise<void> {
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
    const isFile = node.kind === undefined ? await isFilePath(result.path) : node.kind === 'file';
    await (isFile
      ? vscode.commands.executeCommand('vscode.open', target)
      : vscode.commands.executeCommand('vscode.openFolder', target, { forceNewWindow: true }));
  }
}

function isCancellation(error: unknown): boolean {
  return error instanceof vscode.CancellationError || errorKind(error) === 'RequestCancelled';
}

async function isFilePath(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}
