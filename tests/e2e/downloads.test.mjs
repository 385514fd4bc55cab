// downloads.test.mjs — downloads in real VS Code (code-server) + headless chromium.
//
// local: the demo local workspace is the opened folder, and a blob store (Azurite, started by
// tests/e2e/blobstore.py) is configured twice in amlArtifacts.datastores: `lake` direct and
// `slowlake` through a proxy limited to RATE bytes/s. amlArtifacts.downloadDirectory is left
// empty, so every download asks for its folder in VS Code's folder dialog (code-server shows
// VS Code's own "simple" dialog: a path box and a "Download Here" button).
//   uri-run        Download Artifact URI… (command palette) of a run folder, typed as a file://
//                  URI, into a folder: <dest>/<run id>/ holds the run folder's files, same
//                  relative paths, byte-identical, nothing else; the completion notification
//                  says "Downloaded <run id> (<n> files, …) to <dest>/<run id>".
//   uri-datastore  the same for azureml://datastores/lake/paths/features (blobs in Azurite):
//                  <dest>/features/… holds the folder's blobs; its sibling folders are not
//                  fetched.
//   conflict       the same URI onto a folder whose features/part-0000.csv differs: the modal
//                  question (on-conflict policy "ask") names that file; "Skip existing" keeps
//                  it as it was and downloads the others; the notification counts it.
//   cancel         a BIG-byte blob through the slow proxy: Cancel on the progress notification
//                  → "Download cancelled" within CANCEL_MS; no file at the final name and no
//                  temporary file (.<name>.<key>.part, its .json sidecar) left; the proxy
//                  forwards nothing more afterwards and forwarded less than the blob.
// azureml: the Azure ML stand-in (tests/python/amlstandin) in amlArtifacts.workspaces; the
// opened folder `project` is a local workspace (not configured) with one run.
//   to-workspace   Download to Local Workspace… (context menu) on run "first training"
//                  (train-1): the quick pick offers `project` and "Choose a folder…"; the
//                  latter, then the folder dialog, picks the empty folder `offline`. It gets
//                  workspace.json and experiments/train/train-1/{run.json, outputs/…} as
//                  docs/local-workspace.md says, the outputs byte-identical to the blobs; the
//                  two artifacts the listing names but storage lacks are listed as not
//                  downloaded; "Add to Explorer" makes `offline` a root whose tree shows the
//                  run, its outputs and an HDF5 hover. Then the pipeline run pipe-1 into
//                  `project`, picked in the quick pick (now `offline`, `project`, "Choose a
//                  folder…"): its steps become sibling run folders with parent_id; the
//                  notification does not offer to add `project` (the explorer shows it), and
//                  the explorer is refreshed: pipe-1 and its steps show under `project`.
//
// Run: PYTHON_BIN=.venv/bin/python VSIX=dist/azureml-artifact-explorer.vsix node --test tests/e2e/downloads.test.mjs
// Screenshots of every step: test-artifacts/e2e/<test>-<nn>-<step>.png

import test from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  T, makeTemp, makeDemoWorkspace, withVSCode, startBlobStore, startStandin, withStandinVSCode,
  openArtifactsView, row, expand, collapse, hoverTooltip, toasts, toast, runCommand, chooseFolder, quickInput,
  dialogButton, clearNotifications, sidebar, sha256, waitFor, sleep, escapeRegExp,
} from './harness.mjs';

const MiB = 1 << 20;
const BIG = 256 * MiB; // the blob the cancel scenario cancels
const RATE = 32 * MiB; // bytes/s through the slow proxy: the big blob would take about 8 s
const CANCEL_MS = 5000; // Cancel → "Download cancelled"
const FOLDER_OK = 'Download Here'; // the folder dialog's button (extension/commands/download.ts)
const DEMO_EXPERIMENT = 'train-classifier';

/** Relative paths of every file under `dir` (sorted, `/`-separated). */
function listFiles(dir) {
  const out = [];
  const walk = (sub) => {
    for (const entry of fs.readdirSync(path.join(dir, sub), { withFileTypes: true })) {
      const rel = sub ? `${sub}/${entry.name}` : entry.name;
      if (entry.isDirectory()) walk(rel);
      else out.push(rel);
    }
  };
  walk('');
  return out.sort();
}

/** The download's temporary files (engine: `.<name>.<key>.part` and its `.json` sidecar). */
function temporaries(dir) {
  return listFiles(dir).filter((rel) => /(^|\/)\.[^/]*\.part(\.json(\.tmp)?)?$/.test(rel));
}

const oneLine = (text) => text.replace(/\s+/g, ' ').trim();

function writeFile(file, content) {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, content);
}

/** A file of `size` random bytes, written in 8 MiB pieces. */
function randomFile(file, size) {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const fd = fs.openSync(file, 'w');
  try {
    for (let done = 0; done < size; done += 8 * MiB) fs.writeSync(fd, crypto.randomBytes(Math.min(8 * MiB, size - done)));
  } finally {
    fs.closeSync(fd);
  }
}

/** Download Artifact URI… from the command palette: type `uri`, choose `dest` in the dialog. */
async function downloadUri(ctx, uri, dest) {
  const { page } = ctx;
  await runCommand(page, 'Download Artifact URI…');
  const widget = quickInput(page);
  await widget.locator('.quick-input-title', { hasText: 'Download Artifact URI' }).waitFor();
  const input = widget.locator('input').first();
  await input.fill(uri);
  await waitFor(async () => (await input.inputValue()) === uri, { what: 'the URI in the input box' });
  await page.keyboard.press('Enter');
  await widget.locator('.quick-input-title', { hasText: 'Download to folder' }).waitFor();
  await chooseFolder(page, dest, FOLDER_OK);
}

/** Wait for a toast matching `text`; the error says which toasts were there instead. */
async function waitForToast(page, text, timeout = T.server) {
  try {
    await toast(page, text).first().waitFor({ timeout });
  } catch (e) {
    throw new Error(`${e.message}\ntoasts: ${JSON.stringify(await toasts(page))}`);
  }
  return (await toast(page, text).first().innerText()).trim();
}

/** Run one scenario as a subtest of the VS Code session `ctx`: a failure is screenshot and
 *  keeps the logs; each scenario starts with no notification shown. */
async function scenario(t, ctx, name, body) {
  await t.test(name, async () => {
    try {
      await clearNotifications(ctx.page);
      await body();
      await ctx.step(`${name}-done`);
    } catch (e) {
      ctx.failed = true;
      await ctx.step(`${name}-failure`);
      throw e;
    } finally {
      await ctx.page.keyboard.press('Escape').catch(() => {}); // a dialog left open
    }
  });
}

test('downloads from a local workspace and a blob datastore: URI, conflict, cancel', { timeout: T.test }, async (t) => {
  const dirs = await makeTemp('downloads');
  const demoDir = path.join(dirs.root, 'demo');
  const fixture = path.join(dirs.root, 'fixture');
  const blobs = {
    'features/part-0000.csv': 'id,value\n0,0.5\n1,0.25\n',
    'features/part-0001.csv': 'id,value\n2,0.125\n',
    'features/nested/deep/labels.json': '{"labels": ["cat", "dog"]}\n',
    'features/README.md': '# features\n',
    'other/unrelated.txt': 'not in the features folder\n',
  };
  for (const [name, content] of Object.entries(blobs)) writeFile(path.join(fixture, name), content);
  randomFile(path.join(fixture, 'big', 'weights.bin'), BIG);
  const files = Object.fromEntries([...Object.keys(blobs), 'big/weights.bin'].map((n) => [n, path.join(fixture, n)]));
  const [ws, store] = await Promise.all([
    makeDemoWorkspace(demoDir),
    startBlobStore(dirs, { container: 'lake', rate: RATE, blobs: files }),
  ]);
  try {
    const runs = ws.experiments[DEMO_EXPERIMENT];
    const run = runs.find((r) => r.status === 'Completed' && !r.parent && fs.existsSync(path.join(r.dir, 'outputs')));
    assert.ok(run, `no Completed top-level run with outputs in ${DEMO_EXPERIMENT}`);
    const settings = {
      'amlArtifacts.datastores': [
        { name: 'lake', container: store.container, connectionString: store.connectionString },
        { name: 'slowlake', container: store.container, connectionString: store.slowConnectionString },
      ],
    };
    await withVSCode({ test: 'downloads', folder: demoDir, settings, dirs }, async (ctx) => {
      try {
        await localScenarios(t, ctx, { ws, run, store, blobs, dirs });
      } finally {
        await store.stop(); // before the temp folder goes (it writes statistics there)
      }
    });
  } finally {
    await store.stop();
  }
});

/** The scenarios of the local session, in one VS Code (see the top of the file). */
async function localScenarios(t, ctx, { ws, run, store, blobs, dirs }) {
  const { page } = ctx;
  await openArtifactsView(ctx);
  await row(page, new RegExp(`^(${escapeRegExp(ws.name)}|${escapeRegExp(ws.folderName)})(?![\\w.-])`)).first().waitFor({ timeout: T.server });

  await scenario(t, ctx, 'uri-run', async () => {
    const dest = path.join(dirs.downloads, 'uri-run');
    fs.mkdirSync(dest);
    await downloadUri(ctx, pathToFileURL(run.dir).href, dest);
    const text = await waitForToast(page, /Downloaded /);
    const expected = listFiles(run.dir);
    assert.ok(expected.length >= 2, `the run folder has too few files: ${expected}`);
    assert.match(text, new RegExp(`Downloaded ${escapeRegExp(run.id)} \\(${expected.length} files, `));
    assert.match(text, new RegExp(`to ${escapeRegExp(path.join(dest, run.id))}`));
    assert.deepEqual(fs.readdirSync(dest), [run.id], 'the run lands in <dest>/<run id>');
    assert.deepEqual(listFiles(path.join(dest, run.id)), expected, 'same relative layout as the run folder');
    for (const rel of expected) {
      assert.equal(sha256(path.join(dest, run.id, rel)), sha256(path.join(run.dir, rel)), `${rel} differs`);
    }
    console.error(`uri-run: ${oneLine(text)}`);
  });

  await scenario(t, ctx, 'uri-datastore', async () => {
    const dest = path.join(dirs.downloads, 'uri-datastore');
    fs.mkdirSync(dest);
    await downloadUri(ctx, 'azureml://datastores/lake/paths/features', dest);
    const text = await waitForToast(page, /Downloaded /);
    const expected = Object.keys(blobs).filter((n) => n.startsWith('features/')).map((n) => n.slice('features/'.length)).sort();
    assert.match(text, new RegExp(`Downloaded features \\(${expected.length} files, `));
    assert.deepEqual(fs.readdirSync(dest), ['features'], 'only the folder named in the URI');
    assert.deepEqual(listFiles(path.join(dest, 'features')), expected);
    for (const rel of expected) {
      assert.equal(fs.readFileSync(path.join(dest, 'features', rel), 'utf8'), blobs[`features/${rel}`], `${rel} differs`);
    }
    console.error(`uri-datastore: ${oneLine(text)}`);
  });

  await scenario(t, ctx, 'conflict', async () => {
    const dest = path.join(dirs.downloads, 'conflict');
    const mine = path.join(dest, 'features', 'part-0000.csv');
    const edited = 'id,value\n0,edited locally\n';
    writeFile(mine, edited);
    await downloadUri(ctx, 'azureml://datastores/lake/paths/features', dest);
    const question = page.locator('.monaco-dialog-box');
    await question.waitFor({ timeout: T.server });
    const asked = await question.innerText();
    await ctx.step('conflict-question');
    assert.match(asked, /Downloading features: 1 file already exists in .* and differs/);
    assert.match(asked, /part-0000\.csv/);
    assert.equal(fs.readFileSync(mine, 'utf8'), edited, 'changed before the answer');
    await dialogButton(page, 'Skip existing').click();
    const text = await waitForToast(page, /Downloaded /);
    const others = Object.keys(blobs).filter((n) => n.startsWith('features/') && n !== 'features/part-0000.csv');
    assert.match(text, new RegExp(`Downloaded features \\(${others.length} files, [^;)]*; 1 already there\\)`));
    assert.equal(fs.readFileSync(mine, 'utf8'), edited, '"Skip existing" replaced the local file');
    for (const name of others) assert.equal(fs.readFileSync(path.join(dest, name), 'utf8'), blobs[name], `${name} differs`);
    assert.deepEqual(temporaries(dest), [], 'temporary files left');
    console.error(`conflict: ${oneLine(text)}`);
  });

  await scenario(t, ctx, 'cancel', async () => {
    const dest = path.join(dirs.downloads, 'cancel');
    fs.mkdirSync(dest);
    const before = store.stats().bytesDown;
    await downloadUri(ctx, 'azureml://datastores/slowlake/paths/big/weights.bin', dest);
    const progress = toast(page, /Downloading weights\.bin/).first();
    await progress.waitFor({ timeout: T.server });
    // Well under way: bytes are flowing, the temporary file is there, the final one not.
    await waitFor(() => store.stats().bytesDown - before > 16 * MiB, { timeout: T.server, what: '16 MiB through the proxy' });
    const started = fs.readdirSync(dest);
    assert.ok(started.some((n) => /^\.weights\.bin\..*\.part$/.test(n)), `no temporary file while downloading: ${started}`);
    assert.ok(!started.includes('weights.bin'), 'the final name exists before the download completed');
    await ctx.step('cancel-progress');
    const cancel = progress.getByRole('button', { name: 'Cancel' });
    await cancel.waitFor();
    const clicked = Date.now();
    await cancel.click();
    const text = await waitForToast(page, /Download cancelled/, CANCEL_MS + 5000);
    const latency = Date.now() - clicked;
    const atCancel = store.stats().bytesDown - before;
    const left = fs.readdirSync(dest);
    await ctx.step('cancelled');
    assert.deepEqual(left, [], `files left in the destination after cancel: ${left}`);
    assert.ok(latency <= CANCEL_MS, `cancel took ${latency} ms`);
    assert.equal(await toast(page, /Downloading weights\.bin/).count(), 0, 'the progress notification is still shown');
    assert.ok(!(await toasts(page)).some((s) => /Downloaded |failed/i.test(s)), `${JSON.stringify(await toasts(page))}`);
    // The proxy's statistics lag up to 0.1 s: take them again a moment later, then check
    // that nothing more flows (an unstopped transfer would send RATE bytes a second).
    await sleep(500);
    const settled = store.stats().bytesDown - before;
    await sleep(1500);
    const after = store.stats().bytesDown - before;
    assert.ok(after - settled <= 256 * 1024, `the proxy forwarded ${after - settled} bytes more after the cancel was reported`);
    assert.ok(after < BIG, `the whole blob was fetched (${after} bytes) despite the cancel`);
    assert.deepEqual(fs.readdirSync(dest), [], 'a file appeared after the cancel');
    console.error(`cancel: "${text}" ${latency} ms after the click; ${(atCancel / MiB).toFixed(1)} MiB fetched when reported, ${(after / MiB).toFixed(1)} of ${BIG / MiB} MiB in all`);
  });
}

test('to-workspace: Azure ML runs downloaded into local workspaces are browsable offline', { timeout: T.test }, async () => {
  const dirs = await makeTemp('downloads-aml');
  const standin = await startStandin(dirs);
  const offline = path.join(dirs.root, 'offline'); // empty: chosen in the folder dialog
  fs.mkdirSync(offline);
  // The opened folder is a local workspace too (shown without being configured), with a run.
  const project = path.join(dirs.root, 'project');
  writeFile(path.join(project, 'workspace.json'), JSON.stringify({ format: 'aml-artifacts/local-workspace', formatVersion: 1, name: 'project' }));
  writeFile(path.join(project, 'experiments', 'pipelines', 'pipe-0', 'run.json'), JSON.stringify({ display_name: 'earlier pipeline', status: 'Completed', start_time: '2026-01-01T00:00:00Z' }));
  try {
    await withStandinVSCode('downloads-aml', standin, dirs, async (ctx) => {
      const { page } = ctx;
      const wsName = standin.workspace.name;
      const menuItem = page.getByRole('menuitem', { name: /^Download to Local Workspace/ });
      const downloadToWorkspace = async (label) => {
        const r = row(page, label).first();
        await r.waitFor({ timeout: T.server });
        await r.click({ button: 'right' });
        await menuItem.waitFor();
        await sleep(300); // the menu takes clicks once it has settled
        await menuItem.click();
      };
      const options = async () => (await quickInput(page).getByRole('option').allInnerTexts()).map((o) => o.replace(/\s+/g, ' ').trim());
      await openArtifactsView(ctx);
      const wsRow = row(page, wsName).first();
      await wsRow.waitFor({ timeout: T.server });
      await row(page, 'project').first().waitFor({ timeout: T.server });

      // 1. Run train-1 ("first training") into the empty folder `offline`, through "Choose a
      //    folder…" (the opened workspace is offered first) and the folder dialog.
      await expand(page, wsName);
      await expand(page, 'Experiments');
      await expand(page, 'train');
      await downloadToWorkspace('first training');
      await quickInput(page).getByRole('option').first().waitFor();
      await ctx.step('workspace-pick-1');
      const offered = await options();
      assert.equal(offered.length, 2, `offered: ${offered}`);
      assert.match(offered[0], new RegExp(`^project\\s*${escapeRegExp(project)}$`));
      assert.match(offered[1], /Choose a folder…/);
      await quickInput(page).getByRole('option', { name: /Choose a folder/ }).click();
      await chooseFolder(page, offline, FOLDER_OK);

      // Two artifacts the listing names have no blob in the stand-in's storage: the summary
      // is a modal that lists them, and offers to add the workspace to the explorer.
      const summary = page.locator('.monaco-dialog-box');
      await summary.waitFor({ timeout: T.server });
      const said = await summary.innerText();
      await ctx.step('summary');
      assert.match(said, new RegExp(`Downloaded first training \\(2 files, .*2 failed\\) into the local workspace ${escapeRegExp(offline)}`));
      assert.match(said, /Not downloaded:/);
      assert.match(said, /logs\/std_log\.txt: /);
      assert.match(said, /outputs\/sub\/deep\/x\.txt: /);

      const runDir = path.join(offline, 'experiments', 'train', 'train-1');
      assert.deepEqual(listFiles(offline), [
        'experiments/train/train-1/outputs/data.h5',
        'experiments/train/train-1/outputs/notes.txt',
        'experiments/train/train-1/run.json',
        'workspace.json',
      ]);
      const wsJson = JSON.parse(fs.readFileSync(path.join(offline, 'workspace.json'), 'utf8'));
      assert.equal(wsJson.format, 'aml-artifacts/local-workspace');
      assert.equal(wsJson.name, 'offline');
      const runJson = JSON.parse(fs.readFileSync(path.join(runDir, 'run.json'), 'utf8'));
      assert.equal(runJson.display_name, 'first training');
      assert.equal(runJson.status, 'Completed');
      assert.ok(runJson.start_time, 'run.json has start_time');
      assert.match(runJson.source, /\/jobs\/train-1$/);
      assert.equal(sha256(path.join(runDir, 'outputs', 'data.h5')), sha256(path.join(standin.folder, 'data.h5')));
      assert.equal(fs.readFileSync(path.join(runDir, 'outputs', 'notes.txt'), 'utf8'), 'remote notes\n');

      // "Add to Explorer": a new root, browsable and hoverable offline.
      await dialogButton(page, 'Add to Explorer').click();
      await row(page, 'offline').first().waitFor({ timeout: T.server });
      await collapse(page, wsName); // so that labels below are the new root's
      await expand(page, 'offline');
      await expand(page, /^experiments(?![\w.-])/i);
      await expand(page, 'train');
      await expand(page, 'first training');
      await expand(page, 'outputs');
      await row(page, 'notes.txt').first().waitFor({ timeout: T.server });
      const tooltip = await hoverTooltip(page, row(page, 'data.h5').first(), 'HDF5');
      assert.match(tooltip, /features/, 'the offline copy previews as the remote one');
      await ctx.step('offline-tree');
      await collapse(page, 'offline');

      // 2. The opened workspace as the explorer has it now (then collapsed: its rows stay as
      //    they were listed unless the explorer is refreshed).
      await expand(page, 'project');
      await expand(page, /^experiments(?![\w.-])/i);
      await expand(page, 'pipelines');
      await row(page, 'earlier pipeline').first().waitFor({ timeout: T.server });
      await collapse(page, 'project');

      // 3. The pipeline run pipe-1 into the opened workspace, picked in the quick pick.
      await expand(page, wsName);
      await expand(page, /^experiments(?![\w.-])/i);
      await expand(page, 'pipelines');
      await downloadToWorkspace('pipe-1');
      await quickInput(page).getByRole('option').first().waitFor();
      await ctx.step('workspace-pick-2');
      const offeredNow = await options();
      assert.equal(offeredNow.length, 3, `offered: ${offeredNow}`);
      assert.match(offeredNow[0], new RegExp(`^offline\\s*${escapeRegExp(offline)}$`)); // configured now
      assert.match(offeredNow[1], new RegExp(`^project\\s*${escapeRegExp(project)}$`)); // opened
      assert.match(offeredNow[2], /Choose a folder…/);
      await quickInput(page).getByRole('option', { name: /^project/ }).click();
      const text = await waitForToast(page, /Downloaded pipe-1/);
      assert.match(text, new RegExp(`Downloaded pipe-1 \\(0 files, 0 B\\) into the local workspace ${escapeRegExp(project)}`));
      assert.doesNotMatch(text, /Add it to the explorer|Add to Explorer/, 'the explorer shows the opened workspace already');
      const steps = ['prep', 'train', 'eval'];
      for (const id of ['pipe-1', ...steps.map((s) => `pipe-1-${s}`)]) {
        const meta = JSON.parse(fs.readFileSync(path.join(project, 'experiments', 'pipelines', id, 'run.json'), 'utf8'));
        assert.equal(meta.parent_id ?? null, id === 'pipe-1' ? null : 'pipe-1', `${id}: parent_id`);
      }
      // The explorer was refreshed: pipe-1 shows in the opened workspace, its steps under it.
      await collapse(page, wsName);
      await expand(page, 'project');
      await expand(page, /^experiments(?![\w.-])/i);
      await expand(page, 'pipelines');
      await row(page, 'earlier pipeline').first().waitFor({ timeout: T.server });
      const parent = await expand(page, 'pipe-1');
      const level = Number(await parent.getAttribute('aria-level'));
      for (const step of steps) {
        // A step row one level below pipe-1 (the experiment `train` is a row too).
        await row(page, step).and(sidebar(page).locator(`[aria-level="${level + 1}"]`)).first().waitFor({ timeout: T.server });
      }
      await ctx.step('opened-workspace-pipeline');
      assert.deepEqual(temporaries(offline), []);
      assert.deepEqual(temporaries(project), []);
      console.error(`to-workspace: ${oneLine(said)} | ${oneLine(text)}`);
    });
  } finally {
    await standin.stop();
  }
});
