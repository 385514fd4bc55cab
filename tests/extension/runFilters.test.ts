import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  type MementoLike,
  RUN_FILTERS_KEY,
  RunFilters,
  describeRunFilter,
  normalizeFilter,
  parseTagInput,
} from '../../extension/tree/runFilters';

class FakeMemento implements MementoLike {
  readonly values = new Map<string, unknown>();
  updates = 0;
  get(key: string): unknown {
    return this.values.get(key);
  }
  update(key: string, value: unknown): Promise<void> {
    this.updates++;
    this.values.set(key, JSON.parse(JSON.stringify(value)));
    return Promise.resolve();
  }
}

const EXP = 'azureml://subscriptions/s/resourcegroups/rg/workspaces/w/experiments/train';

describe('normalizeFilter', () => {
  it('keeps known-looking statuses once and a trimmed tag', () => {
    assert.deepEqual(normalizeFilter({ status: ['Failed', 'Failed', 'Running'], tag: ' stage=prod ' }), {
      status: ['Failed', 'Running'],
      tag: 'stage=prod',
    });
  });
  it('drops what the server would refuse, and gives nothing when nothing is left', () => {
    assert.equal(normalizeFilter({ status: ['x y', 3], tag: '=v' }), undefined);
    assert.equal(normalizeFilter({}), undefined);
    assert.equal(normalizeFilter('Failed'), undefined);
    assert.equal(normalizeFilter(null), undefined);
  });
});

describe('parseTagInput', () => {
  it('accepts nothing, a key, or key=value', () => {
    assert.deepEqual(parseTagInput('  '), {});
    assert.deepEqual(parseTagInput('stage'), { tag: 'stage' });
    assert.deepEqual(parseTagInput('stage = prod'), { tag: 'stage = prod' });
  });
  it('asks for a key', () => {
    assert.ok(parseTagInput('=prod').error);
  });
});

describe('describeRunFilter', () => {
  it('shows statuses and the tag', () => {
    assert.equal(describeRunFilter({ status: ['Failed', 'Canceled'], tag: 'lr=0.1' }), 'filter: Failed, Canceled · tag lr=0.1');
    assert.equal(describeRunFilter({ tag: 'best' }), 'filter: tag best');
    assert.equal(describeRunFilter(undefined), '');
    assert.equal(describeRunFilter({}), '');
  });
});

describe('RunFilters', () => {
  it('keeps one filter per experiment in the memento', async () => {
    const memento = new FakeMemento();
    const filters = new RunFilters(memento);
    assert.equal(filters.get(EXP), undefined);
    await filters.set(EXP, { status: ['Failed'] });
    await filters.set(`${EXP}-2`, { tag: 'stage=prod' });
    assert.deepEqual(filters.get(EXP), { status: ['Failed'] });
    // A new instance (the next session) reads the same state.
    assert.deepEqual(new RunFilters(memento).get(`${EXP}-2`), { tag: 'stage=prod' });
    await filters.set(EXP, undefined);
    assert.equal(filters.get(EXP), undefined);
    assert.deepEqual(Object.keys(memento.get(RUN_FILTERS_KEY) as object), [`${EXP}-2`]);
  });
  it('treats an empty filter as clearing it, without writing when there was none', async () => {
    const memento = new FakeMemento();
    const filters = new RunFilters(memento);
    await filters.set(EXP, { status: [], tag: '' });
    assert.equal(memento.updates, 0);
    await filters.set(EXP, { status: ['Running'] });
    await filters.set(EXP, {});
    assert.equal(filters.get(EXP), undefined);
  });
  it('ignores a corrupt memento', () => {
    const memento = new FakeMemento();
    memento.values.set(RUN_FILTERS_KEY, ['not', 'a', 'record']);
    assert.equal(new RunFilters(memento).get(EXP), undefined);
    memento.values.set(RUN_FILTERS_KEY, { [EXP]: { status: 'Failed' } });
    assert.equal(new RunFilters(memento).get(EXP), undefined);
  });
});
