// What the explorer tree holds, and one parent's paged children.
// No `vscode` import: unit-testable.
import type { ArtifactNode, Page } from '../common/protocol';

export interface ArtifactElement {
  readonly type: 'artifact';
  readonly node: ArtifactNode;
  readonly parent?: ArtifactElement;
}

/** "Load more…" after a page that has a nextPageToken. */
export interface LoadMoreElement {
  readonly type: 'loadMore';
  readonly parent: ArtifactElement;
  readonly loaded: number;
}

/** A failed request, shown in place of the children it should have listed. */
export interface MessageElement {
  readonly type: 'message';
  readonly message: string;
  readonly parent?: ArtifactElement;
}

/** "Sign in" / "Retry" under a node the server could not use (`errorKind` set). */
export interface ActionElement {
  readonly type: 'action';
  readonly action: ErrorAction;
  readonly parent: ArtifactElement;
}

export type ErrorAction = 'signIn' | 'retry';

export type ExplorerElement = ArtifactElement | LoadMoreElement | MessageElement | ActionElement;

const SIGN_IN_KINDS = new Set(['notSignedIn', 'expired', 'forbidden']);

/** What the user can do about a broken node: sign in (for a sign-in or access problem) and
 * retry; nothing for nodes without `errorKind` (a local folder that is missing, ...). */
export function errorActions(node: ArtifactNode): ErrorAction[] {
  if (node.error === undefined || node.errorKind === undefined) {
    return [];
  }
  return SIGN_IN_KINDS.has(node.errorKind) ? ['signIn', 'retry'] : ['retry'];
}

export function actionLabel(action: ErrorAction, node: ArtifactNode): string {
  if (action === 'retry') {
    return 'Retry';
  }
  switch (node.errorKind) {
    case 'expired':
      return 'Sign in again…';
    case 'forbidden':
      return 'Sign in with another account…';
    default:
      return 'Sign in…';
  }
}

export function actionElements(element: ArtifactElement): ActionElement[] {
  return errorActions(element.node).map((action) => ({ type: 'action', action, parent: element }));
}

export function isArtifactElement(value: unknown): value is ArtifactElement {
  return typeof value === 'object' && value !== null && (value as { type?: unknown }).type === 'artifact';
}

/** The node a command acts on: the one it was invoked on, else the first selected one. */
export function targetNode(arg: unknown, selection: readonly ExplorerElement[]): ArtifactNode | undefined {
  if (isArtifactElement(arg)) {
    return arg.node;
  }
  return selection.find(isArtifactElement)?.node;
}

/** The children of one parent (undefined: the roots), fetched page by page. */
export class Listing {
  private readonly items: ArtifactElement[] = [];
  private readonly uris = new Set<string>();
  private pageToken: string | undefined;
  private failure: string | undefined;

  constructor(readonly parent: ArtifactElement | undefined) {}

  get nextPageToken(): string | undefined {
    return this.pageToken;
  }

  append(page: Page): void {
    for (const node of page.items) {
      // A repeated uri would be a repeated tree item id, which VS Code rejects.
      if (!this.uris.has(node.uri)) {
        this.uris.add(node.uri);
        this.items.push({ type: 'artifact', node, parent: this.parent });
      }
    }
    this.pageToken = page.nextPageToken === '' ? undefined : page.nextPageToken;
    this.failure = undefined;
  }

  /** Records that fetching the next page failed; the page can be asked for again. */
  fail(message: string): void {
    this.failure = message;
  }

  elements(): ExplorerElement[] {
    const elements: ExplorerElement[] = [...this.items];
    if (this.failure !== undefined) {
      elements.push({ type: 'message', message: this.failure, parent: this.parent });
    }
    if (this.pageToken !== undefined && this.parent !== undefined) {
      elements.push({ type: 'loadMore', parent: this.parent, loaded: this.items.length });
    }
    return elements;
  }
}
