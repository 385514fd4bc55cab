import * as vscode from 'vscode';
import { errorKind, errorMessage, type SignInResult } from '../common/protocol';
import type { ArtifactServer } from '../common/server';
import { type ArtifactElement, isArtifactElement } from '../tree/elements';
import type { ExplorerProvider } from '../tree/explorerProvider';
import { RETRY_COMMAND, SIGN_IN_COMMAND } from '../tree/treeItems';

const TERMINAL_NAME = 'Azure sign-in';

interface SignInChoice extends vscode.QuickPickItem {
  method: 'cli' | 'browser';
}

const CHOICES: readonly SignInChoice[] = [
  {
    method: 'cli',
    label: 'Sign in with the Azure CLI (az login)',
    detail: 'Runs az login in a terminal; the server uses the Azure CLI login from then on.',
  },
  {
    method: 'browser',
    label: 'Sign in with a browser',
    detail: 'Opens the Microsoft sign-in page; the sign-in lasts until the server stops.',
  },
];

/**
 * "Sign in" on a workspace the server could not use: a choice between `az login` in a terminal
 * (the server signs in through the Azure CLI's login; the node is tried again when the terminal
 * closes or the user says so) and a browser sign-in run by the server (`artifacts/signIn`; the
 * node is tried again when it succeeds). "Retry" tries the node again.
 */
export function registerSignInCommands(explorer: ExplorerProvider, server: ArtifactServer): vscode.Disposable {
  let terminal: vscode.Terminal | undefined;
  let pending: ArtifactElement | undefined;

  const signInWithCli = async (element: ArtifactElement | undefined): Promise<void> => {
    pending = element;
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
  };

  const signInWithBrowser = async (element: ArtifactElement | undefined): Promise<void> => {
    let failure: string | undefined;
    const result = await vscode.window.withProgress(
      {
        location: vscode.ProgressLocation.Notification,
        title: 'Signing in to Azure: finish in your browser…',
        cancellable: true,
      },
      async (_progress, cancellation): Promise<SignInResult | undefined> => {
        try {
          return await server.request('artifacts/signIn', { method: 'browser', uri: element?.node.uri }, cancellation);
        } catch (error: unknown) {
          if (!cancellation.isCancellationRequested && errorKind(error) !== 'RequestCancelled') {
            failure = errorMessage(error);
          }
          return undefined;
        }
      },
    );
    if (result !== undefined) {
      void vscode.window.showInformationMessage(`Signed in to Azure as ${result.account}.`);
      await explorer.retry(element);
      return;
    }
    if (failure !== undefined) {
      const choice = await vscode.window.showErrorMessage(failure, CHOICES[0].label);
      if (choice === CHOICES[0].label) {
        await signInWithCli(element);
      }
    }
  };

  return vscode.Disposable.from(
    vscode.commands.registerCommand(SIGN_IN_COMMAND, async (arg?: unknown) => {
      const element = isArtifactElement(arg) ? arg : undefined;
      const choice = await vscode.window.showQuickPick(CHOICES, {
        title: 'Sign in to Azure',
        placeHolder: 'How do you want to sign in?',
      });
      if (choice?.method === 'cli') {
        await signInWithCli(element);
      } else if (choice?.method === 'browser') {
        await signInWithBrowser(element);
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
