import * as vscode from 'vscode';
import type { ArtifactNode, Preview, RunFilter } from '../common/protocol';
import { contextValueFor, describeNode, iconFor } from '../format';
import {
  type ActionElement,
  type ArtifactElement,
  type ExplorerElement,
  type LoadMoreElement,
  type MessageElement,
  actionLabel,
  errorActions,
} from './elements';
import { describeRunFilter } from './runFilters';

export const LOAD_MORE_COMMAND = 'amlArtifacts.loadMore';
export const OPEN_PREVIEW_COMMAND = 'amlArtifacts.openPreview';
export const SIGN_IN_COMMAND = 'amlArtifacts.signIn';
export const RETRY_COMMAND = 'amlArtifacts.retry';

/** The run filter of an experiment, by URI. */
export type FilterLookup = (uri: string) => RunFilter | undefined;

export function toTreeItem(element: ExplorerElement, now: Date, filters: FilterLookup = () => undefined): vscode.TreeItem {
  switch (element.type) {
    case 'artifact':
      return artifactItem(element, now, filters);
    case 'loadMore':
      return loadMoreItem(element);
    case 'message':
      return messageItem(element);
    case 'action':
      return actionItem(element);
  }
}

/** The tooltip of a node whose preview arrived; the server has escaped `preview.markdown`. */
export function previewTooltip(node: ArtifactNode, preview: Preview): vscode.MarkdownString {
  const tooltip = new vscode.MarkdownString();
  tooltip.isTrusted = false;
  tooltip.supportHtml = false;
  if (node.error !== undefined) {
    tooltip.appendText(`⚠ ${node.error}`);
    tooltip.appendMarkdown('\n\n---\n\n');
  }
  tooltip.appendMarkdown(preview.markdown);
  return tooltip;
}

function artifactItem(element: ArtifactElement, now: Date, filters: FilterLookup): vscode.TreeItem {
  const { node } = element;
  // A broken node with something to do about it shows its actions (Sign in, Retry) open.
  const state =
    errorActions(node).length > 0
      ? vscode.TreeItemCollapsibleState.Expanded
      : node.hasChildren
        ? vscode.TreeItemCollapsibleState.Collapsed
        : vscode.TreeItemCollapsibleState.None;
  const item = new vscode.TreeItem(node.name, state);
  item.id = node.uri;
  const filter = node.kind === 'experiment' ? describeRunFilter(filters(node.uri)) : '';
  item.description = [describeNode(node, now), filter].filter((part) => part !== '').join(' · ');
  item.contextValue = contextValueFor(node, { filtered: filter !== '' });
  const icon = iconFor(node);
  if (icon.id === 'folder' || icon.id === 'file') {
    // With resourceUri set, the file-icon theme picks the icon from the name.
    item.iconPath = icon.id === 'folder' ? vscode.ThemeIcon.Folder : vscode.ThemeIcon.File;
    item.resourceUri = resourceUri(node);
  } else {
    item.iconPath = new vscode.ThemeIcon(icon.id, icon.color === undefined ? undefined : new vscode.ThemeColor(icon.color));
  }
  if (node.kind === 'file') {
    // A click on a file shows it in the preview panel, keeping the focus in the tree
    // (like a single click in the file explorer opens a preview editor).
    item.command = {
      command: OPEN_PREVIEW_COMMAND,
      title: 'Open Preview',
      arguments: [element, { preserveFocus: true }],
    };
  }
  // The tooltip stays undefined so that hovering asks resolveTreeItem for the preview.
  return item;
}

function loadMoreItem(element: LoadMoreElement): vscode.TreeItem {
  const item = new vscode.TreeItem('Load more…', vscode.TreeItemCollapsibleState.None);
  item.id = `loadMore:${element.parent.node.uri}`;
  item.description = `${element.loaded} shown`;
  item.iconPath = new vscode.ThemeIcon('ellipsis');
  item.contextValue = 'loadMore';
  item.command = { command: LOAD_MORE_COMMAND, title: 'Load More', arguments: [element] };
  return item;
}

function actionItem(element: ActionElement): vscode.TreeItem {
  const item = new vscode.TreeItem(actionLabel(element.action, element.parent.node), vscode.TreeItemCollapsibleState.None);
  item.id = `action:${element.action}:${element.parent.node.uri}`;
  item.iconPath = new vscode.ThemeIcon(element.action === 'signIn' ? 'sign-in' : 'refresh');
  item.contextValue = `action.${element.action}`;
  item.command =
    element.action === 'signIn'
      ? { command: SIGN_IN_COMMAND, title: 'Sign in', arguments: [element.parent] }
      : { command: RETRY_COMMAND, title: 'Retry', arguments: [element.parent] };
  return item;
}

function messageItem(element: MessageElement): vscode.TreeItem {
  const item = new vscode.TreeItem(element.message, vscode.TreeItemCollapsibleState.None);
  item.id = `message:${element.parent?.node.uri ?? ''}`;
  item.tooltip = element.message;
  item.iconPath = new vscode.ThemeIcon('error', new vscode.ThemeColor('errorForeground'));
  item.contextValue = 'message';
  return item;
}

function resourceUri(node: ArtifactNode): vscode.Uri {
  try {
    return vscode.Uri.parse(node.uri, true);
  } catch {
    return vscode.Uri.from({ scheme: 'aml-artifact', path: `/${node.name}` });
  }
}
