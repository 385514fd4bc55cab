import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { describeProbe, probeInterpreter, startFailureMessage } from '../../extension/common/diagnose';
import { PercentageTracker } from '../../extension/common/progress';
import { RestartBudget } from '../../extension/common/restartBudget';

describe('RestartBudget', () => {
  it('allows five restarts within three minutes, then refuses', () => {
    const budget = new RestartBudget(5, 180_000);
    for (let i = 0; i < 5; i++) {
      assert.equal(budget.tryRestart(1000 * i), true);
    }
    assert.equal(budget.tryRestart(10_000), false);
  });
  it('forgets restarts older than the window', () => {
    const budget = new RestartBudget(2, 1000);
    assert.equal(budget.tryRestart(0), true);
    assert.equal(budget.tryRestart(100), true);
    assert.equal(budget.tryRestart(500), false);
    assert.equal(budget.tryRestart(1101), true);
  });
  it('starts over after reset', () => {
    const budget = new RestartBudget(1, 1000);
    assert.equal(budget.tryRestart(0), true);
    budget.reset();
    assert.equal(budget.tryRestart(1), true);
  });
});

describe('PercentageTracker', () => {
  it('turns absolute percentages into increments', () => {
    const tracker = new PercentageTracker();
    assert.equal(tracker.advance(10), 10);
    assert.equal(tracker.advance(35), 25);
    assert.equal(tracker.advance(100), 65);
  });
  it('never goes backwards or past 100', () => {
    const tracker = new PercentageTracker();
    assert.equal(tracker.advance(50), 50);
    assert.equal(tracker.advance(40), 0);
    assert.equal(tracker.advance(150), 50);
    assert.equal(tracker.advance(undefined), 0);
  });
});

describe('describeProbe', () => {
  it('accepts an interpreter that has every module', () => {
    assert.equal(describeProbe('py', { errorCode: undefined, stdout: '\n', stderr: '' }), undefined);
  });
  it('names the missing modules', () => {
    assert.equal(
      describeProbe('/usr/bin/python3', { stdout: 'pyserver pygls\n', stderr: '' }),
      '"/usr/bin/python3" has no module named pyserver, pygls',
    );
  });
  it('says when the interpreter does not exist', () => {
    assert.equal(describeProbe('nopython', { errorCode: 'ENOENT', stdout: '', stderr: '' }), 'the interpreter "nopython" was not found');
  });
  it('quotes the last stderr line when the interpreter fails', () => {
    assert.equal(
      describeProbe('py', { errorCode: 1, stdout: '', stderr: 'Traceback\nSyntaxError: bad\n' }),
      '"py" failed to run (SyntaxError: bad)',
    );
  });
});

describe('probeInterpreter', () => {
  it('reports an interpreter that cannot be found', async () => {
    assert.equal(await probeInterpreter('/nonexistent/python3'), 'the interpreter "/nonexistent/python3" was not found');
  });
});

describe('startFailureMessage', () => {
  it('names the interpreter and both ways out', () => {
    const message = startFailureMessage('/usr/bin/python3', '"/usr/bin/python3" has no module named pyserver');
    assert.match(message, /no module named pyserver/);
    assert.match(message, /amlArtifacts\.python/);
    assert.match(message, /\/usr\/bin\/python3 -m pip install/);
  });
});
