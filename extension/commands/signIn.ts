import * as vscode from 'vscode';
import { type ArtifactElement, isArtifactElement } from '../tree/elements';
import type { ExplorerProvider } from '../tree/explorerProvider';
import { RETRY_COMMAND, SIGN_IN_COMMAND } from '../tree/treeItems';

const TERMINAL_NAME = 'Azure sign-in';

/**
 * "Sign in" on a workspace the server could not use: `az login` in a terminal (the server signs
 * in through the Azure CLI's login), then the node is tried again when the terminal closes or
 * the user says so. "Retry" tries the node again.
 */
export function registerSignInCommands(explorer: ExplorerProvider): vscode.Disposable {
  let terminal: vscode.Terminal | undefined;
  let pending: ArtifactElement | undefined;
  return vscode.Disposable.from(
    vscode.commands.registerCommand(SIGN_IN_COMMAND, async (arg?: unknown) => {
      pending = isArtifactElement(arg) ? arg : undefined;
      if (terminal === undefined || terminal.exitStatus !== undefined) {
        terminal = vscode.window.createTerminal({ name: TERMINAL_NAME });
      }
      terminal.show();
      terminal.sendText('az login');
      const choice = await vscode.window.showInformationMessage(
        'Sign in to Azure in the terminal (az login), then retry.',
        'Retry',
      );
      if (choice === 'Retry') {
        await explorer.retry(pending);
      }
    }),
    vscode.window.onDidCloseTerminal((closed) => {
      if (closed === terminal) {
        terminal = undefined;
        void explorer.retry(pending);
      }
    }),
    vscode.commands.registerCommand(RETRY_COMMAND, (arg?: unknown) =>
      explorer.retry(isArtifactElement(arg) ? arg : undefined),
    ),
  );
}
