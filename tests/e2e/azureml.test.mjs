// azureml.test.mjs — an Azure ML workspace in real VS Code (code-server) + headless chromium.
//
//   remote-hover  amlArtifacts.workspaces names the stand-in workspace (tests/python/amlstandin:
//                 the real azureml-core talks to a local stand-in service, the stand-in `az`
//                 signs in, Azurite holds the bytes); expand ws-main → Experiments → train →
//                 first training → outputs and hover data.h5: the tooltip is its HDF5 preview,
//                 read with ranged requests from blob storage.
//
// Run: PYTHON_BIN=.venv/bin/python VSIX=dist/azureml-artifact-explorer.vsix node --test tests/e2e/

import test from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import {
  T, REPO, PYTHON_BIN, makeTemp, withVSCode, openArtifactsView, row, expand, hoverTooltip, waitFor,
} from './harness.mjs';

/** Start the stand-in environment; resolves to { env, workspace, stop() }. */
async function startStandin(dirs) {
  const folder = path.join(dirs.root, 'aml');
  const envFile = path.join(dirs.root, 'aml-env.json');
  const log = fs.openSync(path.join(dirs.root, 'amlstandin.log'), 'a');
  const proc = spawn(PYTHON_BIN, ['-m', 'amlstandin', '--folder', folder, '--env-file', envFile], {
    cwd: path.join(REPO, 'tests', 'python'),
    stdio: ['pipe', log, log],
    detached: true,
  });
  fs.closeSync(log);
  let exited = false;
  proc.on('exit', () => (exited = true));
  const stop = async () => {
    if (exited) return;
    proc.stdin.end();
    const gone = await waitFor(() => exited, { timeout: 15_000, what: 'the stand-in to stop' }).catch(() => false);
    if (!gone) {
      try { process.kill(-proc.pid, 'SIGKILL'); } catch { /* gone */ }
    }
  };
  try {
    await waitFor(() => exited || fs.existsSync(envFile), { timeout: T.server, what: 'the stand-in environment' });
    if (exited) throw new Error(`the stand-in exited: ${fs.readFileSync(path.join(dirs.root, 'amlstandin.log'), 'utf8')}`);
  } catch (e) {
    await stop();
    throw e;
  }
  const { env, workspace } = JSON.parse(fs.readFileSync(envFile, 'utf8'));
  return { env, workspace, stop };
}

test('remote-hover: a run output in an Azure ML workspace previews as HDF5', { timeout: T.test }, async () => {
  const dirs = await makeTemp('azureml');
  const standin = await startStandin(dirs);
  const saved = { ...process.env };
  try {
    // What the server needs to reach the stand-ins (code-server passes its environment on).
    // The proxy variables stay out: the Python tests check that nothing leaves the machine.
    for (const [key, value] of Object.entries(standin.env)) {
      if (!/proxy/i.test(key) && key !== 'HOME') process.env[key] = value;
    }
    // VS Code gives the extension host the PATH of a login shell (it resolves the shell
    // environment), so the stand-in `az` goes first on PATH through this test's own HOME.
    const azBin = standin.env.PATH.split(':')[0];
    const profile = `export PATH="${azBin}:$PATH"\n`;
    for (const name of ['.profile', '.bashrc', '.zshenv']) fs.writeFileSync(path.join(dirs.home, name), profile);
    const project = path.join(dirs.root, 'project');
    fs.mkdirSync(project);
    const settings = { 'amlArtifacts.workspaces': [standin.workspace], 'amlArtifacts.localWorkspaces': [] };
    await withVSCode({ test: 'azureml', folder: project, settings, dirs }, async (ctx) => {
      const { page } = ctx;
      await openArtifactsView(ctx);
      await row(page, standin.workspace.name).first().waitFor({ timeout: T.server });
      await ctx.step('workspace');
      await expand(page, standin.workspace.name);
      await expand(page, 'Experiments');
      await expand(page, 'train');
      await ctx.step('runs');
      await expand(page, 'first training');
      await expand(page, 'outputs');
      const file = row(page, 'data.h5').first();
      await file.waitFor({ timeout: T.server });
      const text = await hoverTooltip(page, file, 'HDF5');
      await ctx.step('hover');
      assert.match(text, /HDF5/);
      assert.match(text, /features/, 'the tooltip should list the dataset features');
      console.error(`remote hover tooltip:\n${text}`);
    });
  } finally {
    for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key];
    Object.assign(process.env, saved);
    await standin.stop();
  }
});
