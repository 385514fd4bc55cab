import * as vscode from 'vscode';
import type { ArtifactServer } from '../common/server';

export function registerServerCommands(server: ArtifactServer, log: vscode.LogOutputChannel): vscode.Disposable {
  return vscode.Disposable.from(
    vscode.commands.registerCommand('amlArtifacts.showLog', () => {
      log.show();
    }),
    vscode.commands.registerCommand('amlArtifacts.restartServer', () => server.restart()),
  );
}
