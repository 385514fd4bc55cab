import * as vscode from 'vscode';
import { registerCopyUriCommand } from './commands/copyUri';
import { registerDemoWorkspaceCommand } from './commands/demoWorkspace';
import {
  registerDownloadCommand,
  registerDownloadToWorkspaceCommand,
  registerDownloadUriCommand,
} from './commands/download';
import { registerLoadMoreCommand } from './commands/loadMore';
import { registerAddLocalWorkspaceCommand } from './commands/localWorkspace';
import { registerOpenPreviewCommand } from './commands/openPreview';
import { registerRefreshCommand } from './commands/refresh';
import { registerRunFilterCommands } from './commands/runFilter';
import { registerServerCommands } from './commands/server';
import { registerSignInCommands } from './commands/signIn';
import { createLog } from './common/log';
import { onDidChangeSelectedInterpreter } from './common/python';
import { ArtifactServer } from './common/server';
import { onDidChangeSettings, readSettings } from './common/settings';
import { PREVIEW_VIEW_TYPE, PreviewPanelManager } from './preview/panel';
import { ExplorerProvider } from './tree/explorerProvider';
import { RunFilters } from './tree/runFilters';

let activeServer: ArtifactServer | undefined;

export function activate(context: vscode.ExtensionContext): void {
  const log = createLog();
  const server = new ArtifactServer(context.extensionPath, log);
  activeServer = server;
  const filters = new RunFilters(context.workspaceState);
  const explorer = new ExplorerProvider(server, () => readSettings().pageSize, filters);
  const view = vscode.window.createTreeView('amlArtifacts.explorer', {
    treeDataProvider: explorer,
    showCollapseAll: true,
  });
  const previews = new PreviewPanelManager(server, context.extensionUri);
  context.subscriptions.push(
    log,
    server,
    explorer,
    view,
    previews,
    vscode.window.registerWebviewPanelSerializer(PREVIEW_VIEW_TYPE, {
      deserializeWebviewPanel: (panel, state: unknown) => previews.restore(panel, state),
    }),
    server.onDidChangeRoots(() => {
      explorer.refresh();
    }),
    onDidChangeSettings(({ settings, pythonChanged }) => {
      if (pythonChanged) {
        void server.restart();
      } else {
        server.sendSettings(settings);
      }
    }),
    registerRefreshCommand(explorer),
    registerLoadMoreCommand(explorer),
    registerDownloadCommand(server, view),
    registerDownloadUriCommand(server),
    registerDownloadToWorkspaceCommand(server, view),
    registerCopyUriCommand(view),
    registerOpenPreviewCommand(previews, view),
    registerDemoWorkspaceCommand(context.globalStorageUri, server, log),
    registerAddLocalWorkspaceCommand(),
    registerServerCommands(server, log),
    registerRunFilterCommands(explorer, filters, view),
    registerSignInCommands(explorer, server),
  );
  void server.start();
  // Not awaited: activating the Python extension must not delay this one.
  void onDidChangeSelectedInterpreter(() => {
    if (readSettings().python === '') {
      void server.restart();
    }
  }).then((watch) => watch && context.subscriptions.push(watch));
}

export function deactivate(): Promise<void> | undefined {
  return activeServer?.stop();
}
