import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as vscode from 'vscode';

const PYTHON_EXTENSION_ID = 'ms-python.python';

/** The part of the Python extension's exported API used here. */
interface PythonExtensionApi {
  environments: {
    getActiveEnvironmentPath(resource?: vscode.Uri): { path: string };
    resolveEnvironment(
      environment: { path: string } | string,
    ): Promise<{ executable: { uri?: vscode.Uri } } | undefined>;
    onDidChangeActiveEnvironmentPath: vscode.Event<unknown>;
  };
}

/**
 * amlArtifacts.python, else the Python extension's selected interpreter, else the repository's
 * .venv (running the extension from a clone), else python3 from PATH.
 */
export async function resolveInterpreter(extensionPath: string, setting: string): Promise<string> {
  if (setting !== '') {
    return setting;
  }
  const selected = await selectedInterpreter();
  if (selected !== undefined) {
    return selected;
  }
  const venv =
    process.platform === 'win32'
      ? join(extensionPath, '.venv', 'Scripts', 'python.exe')
      : join(extensionPath, '.venv', 'bin', 'python');
  if (existsSync(venv)) {
    return venv;
  }
  return process.platform === 'win32' ? 'python' : 'python3';
}

/** Calls `listener` when the interpreter selected in the Python extension changes. */
export async function onDidChangeSelectedInterpreter(
  listener: () => void,
): Promise<vscode.Disposable | undefined> {
  const api = await pythonExtensionApi();
  return api?.environments.onDidChangeActiveEnvironmentPath(listener);
}

async function selectedInterpreter(): Promise<string | undefined> {
  const api = await pythonExtensionApi();
  if (api === undefined) {
    return undefined;
  }
  try {
    const resource = vscode.workspace.workspaceFolders?.[0]?.uri;
    const environment = await api.environments.resolveEnvironment(
      api.environments.getActiveEnvironmentPath(resource),
    );
    return environment?.executable.uri?.fsPath;
  } catch {
    return undefined;
  }
}

async function pythonExtensionApi(): Promise<PythonExtensionApi | undefined> {
  const extension = vscode.extensions.getExtension<PythonExtensionApi | undefined>(PYTHON_EXTENSION_ID);
  if (extension === undefined) {
    return undefined;
  }
  try {
    return extension.isActive ? extension.exports : await extension.activate();
  } catch {
    return undefined;
  }
}
