import * as vscode from 'vscode';

export const LOG_NAME = 'AzureML Artifacts';

/** One channel for the extension's own messages and the server's stderr and log messages. */
export function createLog(): vscode.LogOutputChannel {
  return vscode.window.createOutputChannel(LOG_NAME, { log: true });
}
