import * as vscode from 'vscode';
import {
  type CloseHandlerResult,
  CloseAction,
  DidChangeConfigurationNotification,
  type ErrorHandler,
  ErrorAction,
  LanguageClient,
  type LanguageClientOptions,
  RevealOutputChannelOn,
  type ServerOptions,
  State,
  WorkDoneProgress,
  type WorkDoneProgressBegin,
  type WorkDoneProgressEnd,
  type WorkDoneProgressReport,
} from 'vscode-languageclient/node';
import type { ArtifactSettings } from './config';
import { probeInterpreter, startFailureMessage } from './diagnose';
import { DID_CHANGE_ROOTS, errorMessage, type ParamsOf, type RequestMethod, type ResultOf } from './protocol';
import { resolveInterpreter } from './python';
import { RestartBudget } from './restartBudget';
import { openSettings, readSettings } from './settings';

export type WorkDoneProgressValue = WorkDoneProgressBegin | WorkDoneProgressReport | WorkDoneProgressEnd;

/** The Python language server (`python -m pyserver serve`) and the client connected to it. */
export class ArtifactServer implements vscode.Disposable {
  private client: LanguageClient | undefined;
  private ready: Promise<LanguageClient>;
  private lifecycle: Promise<unknown> = Promise.resolve();
  private interpreter = '';
  private readonly restarts = new RestartBudget(5, 3 * 60 * 1000);
  private readonly rootsChanged = new vscode.EventEmitter<void>();

  /** Fires on `artifacts/didChangeRoots` and whenever the server (re)starts. */
  readonly onDidChangeRoots = this.rootsChanged.event;

  constructor(
    private readonly extensionPath: string,
    private readonly log: vscode.LogOutputChannel,
  ) {
    this.ready = Promise.reject(new Error('The AzureML Artifacts server has not been started.'));
    this.ready.catch(() => undefined);
  }

  /** The interpreter the server runs with (resolved again on each start). */
  async python(): Promise<string> {
    return this.interpreter || resolveInterpreter(this.extensionPath, readSettings().python);
  }

  start(): Promise<void> {
    this.ready = this.serially(() => this.launch());
    return this.ready.then(
      () => undefined,
      () => undefined, // already reported to the user; requests see the rejection
    );
  }

  restart(): Promise<void> {
    void this.serially(() => this.shutdown());
    return this.start();
  }

  stop(): Promise<void> {
    return this.serially(() => this.shutdown());
  }

  async request<M extends RequestMethod>(
    method: M,
    params: ParamsOf<M>,
    token?: vscode.CancellationToken,
  ): Promise<ResultOf<M>> {
    const client = await this.ready;
    if (client.state === State.Stopped) {
      throw new Error('The AzureML Artifacts server has stopped. Run "AzureML Artifacts: Restart Server".');
    }
    return token === undefined
      ? client.sendRequest<ResultOf<M>>(method, params)
      : client.sendRequest<ResultOf<M>>(method, params, token);
  }

  async onProgress(
    token: string,
    handler: (value: WorkDoneProgressValue) => void,
  ): Promise<vscode.Disposable> {
    const client = await this.ready;
    return client.onProgress(WorkDoneProgress.type, token, handler);
  }

  sendSettings(settings: ArtifactSettings): void {
    const client = this.client;
    if (client?.state !== State.Running && client?.state !== State.Starting) {
      return; // the next start sends them as initializationOptions
    }
    client
      .sendNotification(DidChangeConfigurationNotification.type, { settings })
      .catch((error: unknown) => {
        this.log.error(`Sending settings to the server failed: ${errorMessage(error)}`);
      });
  }

  dispose(): void {
    void this.stop();
    this.rootsChanged.dispose();
  }

  private serially<T>(step: () => Promise<T>): Promise<T> {
    const result = this.lifecycle.then(step);
    this.lifecycle = result.catch(() => undefined);
    return result;
  }

  private async launch(): Promise<LanguageClient> {
    const python = await resolveInterpreter(this.extensionPath, readSettings().python);
    this.interpreter = python;
    this.log.info(`Starting the server: ${python} -m pyserver serve`);
    const problem = await probeInterpreter(python);
    if (problem !== undefined) {
      throw this.startFailed(python, problem);
    }
    const client = this.createClient(python);
    this.client = client;
    this.restarts.reset();
    try {
      await client.start();
    } catch (error) {
      throw this.startFailed(python, `the server exited while starting (${errorMessage(error)})`);
    }
    return client;
  }

  private async shutdown(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (client !== undefined && client.state !== State.Stopped) {
      await client.dispose().catch((error: unknown) => {
        this.log.warn(`Stopping the server failed: ${errorMessage(error)}`);
      });
    }
  }

  private createClient(python: string): LanguageClient {
    const serverOptions: ServerOptions = {
      command: python,
      args: ['-m', 'pyserver', 'serve'],
      options: { env: { ...process.env, PYTHONUNBUFFERED: '1' } },
    };
    let running = false;
    const clientOptions: LanguageClientOptions = {
      documentSelector: [{ scheme: 'file', language: 'python' }],
      initializationOptions: () => readSettings(),
      outputChannel: this.log,
      revealOutputChannelOn: RevealOutputChannelOn.Never,
      errorHandler: this.errorHandler(() => running),
    };
    const client = new LanguageClient('amlArtifacts', 'AzureML Artifacts', serverOptions, clientOptions);
    client.onDidChangeState(({ newState }) => {
      running = newState === State.Running;
      if (running) {
        this.rootsChanged.fire();
      }
    });
    client.onNotification(DID_CHANGE_ROOTS, () => {
      this.rootsChanged.fire();
    });
    return client;
  }

  private errorHandler(wasRunning: () => boolean): ErrorHandler {
    return {
      error: (_error, _message, count) => ({
        action: count !== undefined && count <= 3 ? ErrorAction.Continue : ErrorAction.Shutdown,
      }),
      closed: (): CloseHandlerResult => {
        if (!wasRunning()) {
          // Died while starting: launch() reports it; restarting would fail the same way.
          return { action: CloseAction.DoNotRestart, handled: true };
        }
        if (this.restarts.tryRestart(Date.now())) {
          this.log.warn('The server stopped unexpectedly; restarting it.');
          return { action: CloseAction.Restart, handled: true };
        }
        void this.offerRestart();
        return { action: CloseAction.DoNotRestart, handled: true };
      },
    };
  }

  private async offerRestart(): Promise<void> {
    const { maxRestarts, windowMs } = this.restarts;
    const choice = await vscode.window.showErrorMessage(
      `The AzureML Artifacts server stopped ${maxRestarts + 1} times in ${windowMs / 60_000} minutes ` +
        'and was not restarted again. The log says why.',
      'Restart Server',
      'Show Log',
    );
    if (choice === 'Restart Server') {
      await this.restart();
    } else if (choice === 'Show Log') {
      this.log.show();
    }
  }

  private startFailed(python: string, problem: string): Error {
    const message = startFailureMessage(python, problem);
    this.log.error(message);
    void vscode.window.showErrorMessage(message, 'Open Settings', 'Show Log').then((choice) => {
      if (choice === 'Open Settings') {
        void openSettings('amlArtifacts.python');
      } else if (choice === 'Show Log') {
        this.log.show();
      }
    });
    return new Error(message);
  }
}
