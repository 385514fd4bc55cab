import { randomBytes } from 'node:crypto';
import * as vscode from 'vscode';
import { type ArtifactNode, errorMessage } from '../common/protocol';
import type { ArtifactServer } from '../common/server';
import type { ArtifactElement } from '../tree/elements';
import { isPanelMessage, previewDocument, type PreviewState, savedPanel } from './html';

export const PREVIEW_VIEW_TYPE = 'amlArtifacts.preview';

/** A larger budget than hovers get (1 MiB, 5 s): the panel is asked for explicitly. */
export const PANEL_BUDGET = { maxBytes: 4 * 1024 * 1024, timeoutMs: 15_000 } as const;

export interface ShowOptions {
  /** Keep the focus where it is (a single click in the tree), as VS Code's preview editors do. */
  readonly preserveFocus?: boolean;
}

/**
 * The preview panel. One panel that retargets to the artifact last asked for, like the
 * editor's preview tab: clicking through files in the tree does not pile up tabs.
 */
export class PreviewPanelManager implements vscode.Disposable {
  private panel: vscode.WebviewPanel | undefined;
  private node: ArtifactNode | undefined;
  private state: PreviewState['state'] | undefined;
  private request: vscode.CancellationTokenSource | undefined;

  constructor(
    private readonly server: ArtifactServer,
    private readonly extensionUri: vscode.Uri,
  ) {}

  async show(node: ArtifactNode, options: ShowOptions = {}): Promise<void> {
    const preserveFocus = options.preserveFocus ?? false;
    const panel = this.panel ?? this.createPanel(preserveFocus);
    const same = this.node?.uri === node.uri;
    this.node = node;
    panel.title = node.name;
    if (!panel.visible || !preserveFocus) {
      panel.reveal(undefined, preserveFocus);
    }
    if (same && this.state !== 'error') {
      return; // already shown or on its way; Refresh reads it again
    }
    await this.load();
  }

  /** A panel VS Code kept across a window reload: shows its artifact again (read afresh). */
  async restore(panel: vscode.WebviewPanel, state: unknown): Promise<void> {
    const saved = savedPanel(state);
    if (saved === undefined || this.panel !== undefined) {
      panel.dispose();
      return;
    }
    this.adopt(panel);
    const node: ArtifactNode = {
      uri: saved.uri,
      name: saved.title,
      kind: 'file',
      hasChildren: false,
      downloadable: true,
    };
    await this.show(node, { preserveFocus: true });
  }

  dispose(): void {
    this.cancelRequest();
    this.panel?.dispose();
  }

  private createPanel(preserveFocus: boolean): vscode.WebviewPanel {
    const panel = vscode.window.createWebviewPanel(
      PREVIEW_VIEW_TYPE,
      'Preview',
      { viewColumn: vscode.ViewColumn.Active, preserveFocus },
      {
        enableScripts: true, // only the nonce'd script of the Refresh / Download buttons
        enableCommandUris: false,
        enableForms: false,
        localResourceRoots: [], // the document is self-contained: no files, no network
        enableFindWidget: true,
      },
    );
    return this.adopt(panel);
  }

  private adopt(panel: vscode.WebviewPanel): vscode.WebviewPanel {
    panel.iconPath = vscode.Uri.joinPath(this.extensionUri, 'resources', 'aml-artifacts.svg');
    panel.webview.onDidReceiveMessage((message: unknown) => {
      this.onMessage(message);
    });
    panel.onDidDispose(() => {
      if (this.panel === panel) {
        this.cancelRequest();
        this.panel = undefined;
        this.node = undefined;
        this.state = undefined;
      }
    });
    this.panel = panel;
    return panel;
  }

  private onMessage(message: unknown): void {
    const node = this.node;
    if (!isPanelMessage(message) || node === undefined) {
      return;
    }
    if (message.type === 'refresh') {
      void this.load();
    } else {
      const element: ArtifactElement = { type: 'artifact', node };
      void vscode.commands.executeCommand('amlArtifacts.download', element);
    }
  }

  private async load(): Promise<void> {
    const { panel, node } = this;
    if (panel === undefined || node === undefined) {
      return;
    }
    this.cancelRequest();
    const request = new vscode.CancellationTokenSource();
    this.request = request;
    this.render(panel, node, { state: 'loading' });
    let state: PreviewState;
    try {
      const preview = await this.server.request('artifacts/preview', { uri: node.uri, ...PANEL_BUDGET }, request.token);
      state = { state: 'ready', preview };
    } catch (error) {
      state = { state: 'error', message: errorMessage(error) };
    }
    // Retargeted, refreshed or closed meanwhile: a newer request owns the panel.
    if (this.request !== request || request.token.isCancellationRequested) {
      return;
    }
    this.request = undefined;
    request.dispose();
    this.render(panel, node, state);
  }

  private render(panel: vscode.WebviewPanel, node: ArtifactNode, state: PreviewState): void {
    this.state = state.state;
    panel.webview.html = previewDocument(
      {
        uri: node.uri,
        title: node.name,
        nonce: randomBytes(18).toString('base64'),
        cspSource: panel.webview.cspSource,
      },
      state,
    );
  }

  private cancelRequest(): void {
    this.request?.cancel();
    this.request?.dispose();
    this.request = undefined;
  }
}
