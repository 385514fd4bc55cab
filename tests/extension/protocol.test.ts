import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ErrorCode, errorKind, errorMessage } from '../../extension/common/protocol';

describe('errorKind', () => {
  it('reads the kind from the error data', () => {
    assert.equal(errorKind({ code: -31002, message: 'exists', data: { kind: 'AlreadyExists', uri: 'x' } }), 'AlreadyExists');
  });
  it('falls back to the error code', () => {
    assert.equal(errorKind({ code: ErrorCode.RequestCancelled, message: 'cancelled' }), 'RequestCancelled');
    assert.equal(errorKind({ code: -31001, message: 'gone', data: null }), 'NotFound');
  });
  it('gives nothing for unknown errors', () => {
    assert.equal(errorKind(new Error('boom')), undefined);
    assert.equal(errorKind({ code: 1, data: { kind: 'Weird' } }), undefined);
    assert.equal(errorKind('text'), undefined);
  });
});

describe('errorMessage', () => {
  it('takes the message of errors and error-like objects', () => {
    assert.equal(errorMessage(new Error('boom')), 'boom');
    assert.equal(errorMessage({ code: -31001, message: 'not found' }), 'not found');
    assert.equal(errorMessage('plain'), 'plain');
  });
});

describe('ErrorCode', () => {
  it('matches the table of docs/protocol.md', () => {
    const docs = readFileSync(join(__dirname, '..', '..', 'docs', 'protocol.md'), 'utf8');
    const rows = [...docs.matchAll(/^\| (-\d+) \| `(\w+)` \|/gm)].map(([, code, name]) => [name, Number(code)]);
    assert.ok(rows.length >= 10);
    assert.deepEqual(ErrorCode, Object.fromEntries(rows));
  });
});
