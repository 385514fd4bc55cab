import * as vscode from 'vscode';
import type { ArtifactNode } from '../common/protocol';
import { displayName } from '../preview/html';
import type { PreviewPanelManager, ShowOptions } from '../preview/panel';
import { type ExplorerElement, isArtifactElement, targetNode } from '../tree/elements';
import { OPEN_PREVIEW_COMMAND } from '../tree/treeItems';

/**
 * `amlArtifacts.openPreview [target] [options]`: target is a tree element (context menu,
 * click), a URI string or a `vscode.Uri`; without one, the user types a URI.
 */
export function registerOpenPreviewCommand(
  panels: PreviewPanelManager,
  view: vscode.TreeView<ExplorerElement>,
): vscode.Disposable {
  return vscode.commands.registerCommand(OPEN_PREVIEW_COMMAND, async (arg?: unknown, options?: unknown) => {
    const node = nodeFromArgument(arg) ?? (await askForUri(view));
    if (node !== undefined) {
      await panels.show(node, showOptions(options));
    }
  });
}

function nodeFromArgument(arg: unknown): ArtifactNode | undefined {
  if (isArtifactElement(arg)) {
    return arg.node;
  }
  if (arg instanceof vscode.Uri) {
    return nodeForUri(arg.scheme === 'file' ? arg.fsPath : arg.toString());
  }
  if (typeof arg === 'string' && arg.trim() !== '') {
    return nodeForUri(arg.trim());
  }
  return undefined;
}

/** A node for a URI typed by the user (the server accepts every URI form and local paths). */
function nodeForUri(uri: string): ArtifactNode {
  return { uri, name: displayName(uri), kind: 'file', hasChildren: false, downloadable: true };
}

async function askForUri(view: vscode.TreeView<ExplorerElement>): Promise<ArtifactNode | undefined> {
  const selected = targetNode(undefined, view.selection);
  const uri = await vscode.window.showInputBox({
    title: 'Open Preview',
    prompt: 'Artifact URI (azureml://…, runs:/<run-id>/<path>, azureml:<model>:<version>, file://…) or a local path',
    value: selected?.uri ?? '',
    ignoreFocusOut: true,
    validateInput: (value) => (value.trim() === '' ? 'Enter a URI or a path' : undefined),
  });
  if (uri === undefined || uri.trim() === '') {
    return undefined;
  }
  return selected?.uri === uri ? selected : nodeForUri(uri.trim());
}

function showOptions(options: unknown): ShowOptions {
  const preserveFocus = (options as { preserveFocus?: unknown } | null | undefined)?.preserveFocus;
  return typeof preserveFocus === 'boolean' ? { preserveFocus } : {};
}
