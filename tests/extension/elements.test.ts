import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ArtifactNode } from '../../extension/common/protocol';
import {
  type ArtifactElement,
  Listing,
  actionElements,
  actionLabel,
  errorActions,
  targetNode,
} from '../../extension/tree/elements';

function file(name: string): ArtifactNode {
  return { uri: `file:///ws/out/${name}`, name, kind: 'file', hasChildren: false };
}

const folder: ArtifactElement = {
  type: 'artifact',
  node: { uri: 'file:///ws/out', name: 'out', kind: 'folder', hasChildren: true },
};

describe('Listing', () => {
  it('ends a page that has a next page with "Load more"', () => {
    const listing = new Listing(folder);
    listing.append({ items: [file('a'), file('b')], nextPageToken: 't1' });
    const elements = listing.elements();
    assert.deepEqual(
      elements.map((e) => e.type),
      ['artifact', 'artifact', 'loadMore'],
    );
    assert.deepEqual(elements[2], { type: 'loadMore', parent: folder, loaded: 2 });
    assert.equal(listing.nextPageToken, 't1');
  });

  it('appends the next page and drops "Load more" after the last one', () => {
    const listing = new Listing(folder);
    listing.append({ items: [file('a')], nextPageToken: 't1' });
    listing.append({ items: [file('b')] });
    const names = listing.elements().map((e) => (e.type === 'artifact' ? e.node.name : e.type));
    assert.deepEqual(names, ['a', 'b']);
    assert.equal(listing.nextPageToken, undefined);
  });

  it('keeps element identity across pages and links children to their parent', () => {
    const listing = new Listing(folder);
    listing.append({ items: [file('a')], nextPageToken: 't1' });
    const first = listing.elements()[0];
    listing.append({ items: [file('b')] });
    assert.equal(listing.elements()[0], first);
    assert.equal(first.parent, folder);
  });

  it('skips a uri it already holds', () => {
    const listing = new Listing(folder);
    listing.append({ items: [file('a')], nextPageToken: 't1' });
    listing.append({ items: [file('a'), file('b')] });
    assert.equal(listing.elements().length, 2);
  });

  it('shows a failed next page as a message and still offers to load it again', () => {
    const listing = new Listing(folder);
    listing.append({ items: [file('a')], nextPageToken: 't1' });
    listing.fail('Unavailable: the service did not answer');
    assert.deepEqual(
      listing.elements().map((e) => e.type),
      ['artifact', 'message', 'loadMore'],
    );
    listing.append({ items: [file('b')] });
    assert.deepEqual(
      listing.elements().map((e) => e.type),
      ['artifact', 'artifact'],
    );
  });

  it('treats an empty page token as the last page', () => {
    const listing = new Listing(folder);
    listing.append({ items: [file('a')], nextPageToken: '' });
    assert.equal(listing.nextPageToken, undefined);
  });
});

describe('targetNode', () => {
  it('prefers the element a command was invoked on', () => {
    const clicked: ArtifactElement = { type: 'artifact', node: file('a') };
    const selected: ArtifactElement = { type: 'artifact', node: file('b') };
    assert.equal(targetNode(clicked, [selected])?.name, 'a');
  });
  it('falls back to the first selected artifact', () => {
    const selected: ArtifactElement = { type: 'artifact', node: file('b') };
    assert.equal(targetNode(undefined, [{ type: 'message', message: 'x' }, selected])?.name, 'b');
  });
  it('gives nothing when no artifact is at hand', () => {
    assert.equal(targetNode('not an element', []), undefined);
  });
});

describe('errorActions', () => {
  const ws = (fields: Partial<ArtifactNode>): ArtifactNode => ({
    uri: 'azureml://subscriptions/s/resourcegroups/rg/workspaces/w',
    name: 'w',
    kind: 'workspace',
    hasChildren: false,
    ...fields,
  });
  it('offers Sign in and Retry for sign-in and access problems', () => {
    for (const errorKind of ['notSignedIn', 'expired', 'forbidden']) {
      assert.deepEqual(errorActions(ws({ error: 'x', errorKind })), ['signIn', 'retry']);
    }
  });
  it('offers Retry alone for the other problems', () => {
    for (const errorKind of ['notFound', 'unreachable', 'serverError', 'somethingNew']) {
      assert.deepEqual(errorActions(ws({ error: 'x', errorKind })), ['retry']);
    }
  });
  it('offers nothing without an error kind (a local folder that is missing) or an error', () => {
    assert.deepEqual(errorActions(ws({ error: 'Folder not found' })), []);
    assert.deepEqual(errorActions(ws({ errorKind: 'expired' })), []);
    assert.deepEqual(errorActions(ws({ hasChildren: true })), []);
  });
  it('labels the sign-in by what went wrong', () => {
    assert.equal(actionLabel('signIn', ws({ error: 'x', errorKind: 'notSignedIn' })), 'Sign in…');
    assert.equal(actionLabel('signIn', ws({ error: 'x', errorKind: 'expired' })), 'Sign in again…');
    assert.equal(
      actionLabel('signIn', ws({ error: 'x', errorKind: 'forbidden' })),
      'Sign in with another account…',
    );
    assert.equal(actionLabel('retry', ws({ error: 'x', errorKind: 'forbidden' })), 'Retry');
  });
  it('makes child elements of the broken node', () => {
    const element: ArtifactElement = { type: 'artifact', node: ws({ error: 'x', errorKind: 'expired' }) };
    assert.deepEqual(actionElements(element), [
      { type: 'action', action: 'signIn', parent: element },
      { type: 'action', action: 'retry', parent: element },
    ]);
  });
});
