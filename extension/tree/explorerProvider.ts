import * as vscode from 'vscode';
import { errorMessage } from '../common/protocol';
import type { ArtifactServer } from '../common/server';
import { type ArtifactElement, type ExplorerElement, type LoadMoreElement, Listing } from './elements';
import { errorTooltipText } from '../format';
import { previewTooltip, toTreeItem } from './treeItems';

/** The AzureML Artifacts tree: roots, paged children, previews as tooltips. */
export class ExplorerProvider implements vscode.TreeDataProvider<ExplorerElement>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<ExplorerElement | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  // Cached so that elements keep their identity until refresh(); keyed by parent uri, '' = roots.
  private readonly listings = new Map<string, Promise<Listing>>();
  private readonly tooltips = new Map<string, vscode.MarkdownString>();
  // After refresh(), the next roots request asks the server to drop its cached remote listings.
  private refreshPending = false;

  constructor(
    private readonly server: ArtifactServer,
    private readonly pageSize: () => number,
  ) {}

  refresh(): void {
    this.refreshPending = true;
    this.listings.clear();
    this.tooltips.clear();
    this.changed.fire(undefined);
  }

  getTreeItem(element: ExplorerElement): vscode.TreeItem {
    return toTreeItem(element, new Date());
  }

  getParent(element: ExplorerElement): ExplorerElement | undefined {
    return element.parent;
  }

  async getChildren(element?: ExplorerElement): Promise<ExplorerElement[]> {
    if (element !== undefined && element.type !== 'artifact') {
      return [];
    }
    try {
      return (await this.listing(element)).elements();
    } catch (error) {
      return [{ type: 'message', message: errorMessage(error), parent: element }];
    }
  }

  async resolveTreeItem(
    item: vscode.TreeItem,
    element: ExplorerElement,
    token: vscode.CancellationToken,
  ): Promise<vscode.TreeItem> {
    if (element.type !== 'artifact') {
      return item;
    }
    const { node } = element;
    const cached = this.tooltips.get(node.uri);
    if (cached !== undefined) {
      item.tooltip = cached;
      return item;
    }
    try {
      const preview = await this.server.request('artifacts/preview', { uri: node.uri }, token);
      item.tooltip = previewTooltip(node, preview);
      this.tooltips.set(node.uri, item.tooltip);
    } catch (error) {
      if (!token.isCancellationRequested) {
        item.tooltip = errorTooltipText(node.error, errorMessage(error));
      }
    }
    return item;
  }

  async loadMore(element: LoadMoreElement): Promise<void> {
    const listing = await this.listings.get(element.parent.node.uri)?.catch(() => undefined);
    if (listing?.parent !== element.parent || listing.nextPageToken === undefined) {
      return; // refreshed meanwhile, or a second click on the same page
    }
    const pageToken = listing.nextPageToken;
    try {
      const page = await this.fetchChildren(element.parent, pageToken);
      if (listing.nextPageToken === pageToken) {
        listing.append(page);
      }
    } catch (error) {
      listing.fail(errorMessage(error));
    }
    this.changed.fire(element.parent);
  }

  dispose(): void {
    this.changed.dispose();
  }

  private listing(parent: ArtifactElement | undefined): Promise<Listing> {
    const key = parent?.node.uri ?? '';
    const cached = this.listings.get(key);
    if (cached !== undefined) {
      return cached;
    }
    const listing = this.fetchFirstPage(parent);
    this.listings.set(key, listing);
    // A failure is not cached: the next expand asks again.
    listing.catch(() => {
      if (this.listings.get(key) === listing) {
        this.listings.delete(key);
      }
    });
    return listing;
  }

  private async fetchFirstPage(parent: ArtifactElement | undefined): Promise<Listing> {
    const listing = new Listing(parent);
    if (parent === undefined) {
      const refresh = this.refreshPending;
      this.refreshPending = false;
      listing.append(await this.server.request('artifacts/roots', refresh ? { refresh } : {}));
    } else {
      listing.append(await this.fetchChildren(parent, undefined));
    }
    return listing;
  }

  private fetchChildren(parent: ArtifactElement, pageToken: string | undefined) {
    const params = { uri: parent.node.uri, pageSize: this.pageSize() };
    return this.server.request('artifacts/children', pageToken === undefined ? params : { ...params, pageToken });
  }
}
