// Tells, before the language client starts, whether an interpreter can run the server,
// and if not, why in words a user can act on. No `vscode` import: unit-testable.
import { execFile } from 'node:child_process';

export const SERVER_MODULES = ['pyserver', 'pygls', 'lsprotocol'] as const;

// find_spec locates modules without importing them, so the probe costs one interpreter start.
const PROBE_SCRIPT = [
  'import importlib.util',
  `names = ${JSON.stringify(SERVER_MODULES)}`,
  'print(" ".join(n for n in names if importlib.util.find_spec(n) is None))',
].join('\n');

export interface ProbeOutcome {
  errorCode?: string | number | null;
  stdout: string;
  stderr: string;
}

/** Undefined when `python` has every server module, else what is wrong. */
export function describeProbe(python: string, outcome: ProbeOutcome): string | undefined {
  if (outcome.errorCode === 'ENOENT') {
    return `the interpreter "${python}" was not found`;
  }
  if (outcome.errorCode !== undefined && outcome.errorCode !== null && outcome.errorCode !== 0) {
    const detail = outcome.stderr.trim().split('\n').pop() ?? '';
    return `"${python}" failed to run (${detail || String(outcome.errorCode)})`;
  }
  const missing = outcome.stdout.trim();
  return missing === '' ? undefined : `"${python}" has no module named ${missing.split(/\s+/).join(', ')}`;
}

export function probeInterpreter(python: string, timeoutMs = 15_000): Promise<string | undefined> {
  return new Promise((resolve) => {
    execFile(python, ['-c', PROBE_SCRIPT], { timeout: timeoutMs }, (error, stdout, stderr) => {
      const errorCode = error === null ? undefined : (error.code ?? error.signal ?? 1);
      resolve(describeProbe(python, { errorCode, stdout, stderr }));
    });
  });
}

export function startFailureMessage(python: string, problem: string): string {
  return (
    `AzureML Artifacts: the server could not start: ${problem}. ` +
    `Set "amlArtifacts.python" to an interpreter that has the server installed, ` +
    `or install it into this one ("${python} -m pip install azureml-artifact-explorer").`
  );
}
