import * as vscode from 'vscode';
import { errorMessage } from '../common/protocol';
import type { ArtifactServer } from '../common/server';
import { type ArtifactElement, type ExplorerElement, type LoadMoreElement, Listing, actionElements } from './elements';
import { errorTooltipText } from '../format';
import type { RunFilters } from './runFilters';
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
    private readonly filters?: RunFilters,
  ) {}

  refresh(): void {
    this.refreshPending = true;
    this.listings.clear();
    this.tooltips.clear();
    this.changed.fire(undefined);
  }

  getTreeItem(element: ExplorerElement): vscode.TreeItem {
    return toTreeItem(element, new Date(), (uri) => this.filters?.get(uri));
  }

  /** Lists a node's children again (after its run filter changed). */
  refreshNode(element: ArtifactElement): void {
    this.listings.delete(element.node.uri);
    this.tooltips.delete(element.node.uri);
    this.changed.fire(element);
  }

  /**
   * Retry of a broken node: the server drops what it cached about the node's workspace (its
   * failed check included), then the node's parent (or the roots) is listed again.
   */
  async retry(element: ArtifactElement | undefined): Promise<void> {
    if (element === undefined) {
      this.refresh(); // no node at hand: everything, with the server's caches dropped
      return;
    }
    await this.server
      .request('artifacts/children', { uri: element.node.uri, pageSize: 1, refresh: true })
      .catch(() => undefined); // the node shows the error again
    const parent = element.parent;
    this.listings.delete(parent?.node.uri ?? '');
    this.listings.delete(element.node.uri);
    this.tooltips.clear();
    this.changed.fire(parent);
  }

  getParent(element: ExplorerElement): ExplorerElement | undefined {
    return element.parent;
  }

  async getChildren(element?: ExplorerElement): Promise<ExplorerElement[]> {
    if (element !== undefined && element.type !== 'artifact') {
      return [];
    }
    const actions = element === undefined ? [] : actionElements(element);
    if (actions.length > 0) {
      return actions; // a broken node: what to do about it, no request
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
    const filter = parent.node.kind === 'experiment' ? this.filters?.get(parent.node.uri) : undefined;
    const params = {
      uri: parent.node.uri,
      pageSize: this.pageSize(),
      ...(filter === undefined ? {} : { filter }),
      ...(pageToken === undefined ? {} : { pageToken }),
    };
    return this.server.request('artifacts/children', params);
  }
}
