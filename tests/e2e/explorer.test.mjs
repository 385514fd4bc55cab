// explorer.test.mjs — end-to-end scenarios in real VS Code (code-server) + headless chromium.
//
//   hover     open the AzureML Artifacts view, expand down to a run's outputs/data, hover
//             my_data.hdf5: the tooltip (resolveTreeItem → server preview) says HDF5
//   download  right-click my_data.hdf5 → Download…: a notification reports completion and
//             the file in the download folder is byte-identical to the source
//   recovery  kill this test's pyserver process: the extension restarts it (or the view's
//             Refresh does) and the tree expands and hovers again
//   welcome   an empty folder with no configured workspaces shows "Create Demo Workspace";
//             clicking it (extension storage) creates the demo workspace and the tree shows it
//
// Run: PYTHON_BIN=.venv/bin/python VSIX=dist/azureml-artifact-explorer.vsix node --test tests/e2e/
// Screenshots of every step: test-artifacts/e2e/<test>-<nn>-<step>.png

import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {
  T, makeTemp, makeDemoWorkspace, withVSCode, openArtifactsView, row, expand, hoverTooltip,
  toasts, serverPids, sidebar, sha256, waitFor, sleep,
} from './harness.mjs';

const EXPERIMENT = 'train-classifier';
const HDF5 = 'my_data.hdf5';
const PICKLE = 'my_model.pkl';

/** Temp dirs + demo workspace, and the run the scenarios use (first Completed top-level run
 *  in tree order that holds outputs/data/my_data.hdf5). */
async function demoSetup(name) {
  const dirs = await makeTemp(name);
  const demoDir = path.join(dirs.root, 'demo');
  const ws = await makeDemoWorkspace(demoDir);
  const runs = ws.experiments[EXPERIMENT];
  assert.ok(runs && runs.length, `demo workspace has no runs in experiments/${EXPERIMENT}`);
  const run = runs.find((r) => r.status === 'Completed' && !r.parent && fs.existsSync(path.join(r.dir, 'outputs', 'data', HDF5)));
  assert.ok(run, `no Completed run with outputs/data/${HDF5} in ${JSON.stringify(runs.map((r) => [r.id, r.status]))}`);
  return { dirs, demoDir, ws, run, settings: { 'amlArtifacts.downloadDirectory': dirs.downloads } };
}

/** Expand workspace root → Experiments → train-classifier → run → outputs → `folder`. */
async function expandToRunFolder(ctx, ws, run, folder) {
  const { page } = ctx;
  const rootLabel = new RegExp(`^(${[ws.name, ws.folderName].map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|')})(?![\\w.-])`);
  const root = row(page, rootLabel).first();
  await root.waitFor({ timeout: T.server });
  await ctx.step('root');
  await expand(page, rootLabel);
  await expand(page, /^experiments(?![\w.-])/i);
  await expand(page, EXPERIMENT);
  await ctx.step('experiment');
  await expand(page, run.label);
  await expand(page, 'outputs');
  await expand(page, folder);
  await ctx.step(`outputs-${folder}`);
}

test('hover: tooltip of an HDF5 file shows its preview', { timeout: T.test }, async () => {
  const s = await demoSetup('hover');
  await withVSCode({ test: 'hover', folder: s.demoDir, settings: s.settings, dirs: s.dirs }, async (ctx) => {
    await openArtifactsView(ctx);
    await ctx.step('view');
    await expandToRunFolder(ctx, s.ws, s.run, 'data');
    const file = row(ctx.page, HDF5).first();
    await file.waitFor();
    const text = await hoverTooltip(ctx.page, file, 'HDF5');
    await ctx.step('hover');
    assert.match(text, /HDF5/);
    // The deep preview lists the file's datasets (read through h5py, never executed).
    assert.match(text, /my_dataset/, 'the tooltip should list the dataset my_dataset');
    console.error(`hover tooltip:\n${text}`);
  });
});

test('download: context menu Download… writes the file into downloadDirectory', { timeout: T.test }, async () => {
  const s = await demoSetup('download');
  const source = path.join(s.run.dir, 'outputs', 'data', HDF5);
  const target = path.join(s.dirs.downloads, HDF5);
  await withVSCode({ test: 'download', folder: s.demoDir, settings: s.settings, dirs: s.dirs }, async (ctx) => {
    const { page } = ctx;
    await openArtifactsView(ctx);
    await expandToRunFolder(ctx, s.ws, s.run, 'data');
    const file = row(page, HDF5).first();
    await file.click({ button: 'right' });
    const item = page.getByRole('menuitem', { name: /^Download/ });
    await item.waitFor();
    await ctx.step('context-menu');
    await item.click();
    await waitFor(() => fs.existsSync(target) && fs.statSync(target).size === fs.statSync(source).size, {
      timeout: T.server, what: `${target} with the size of ${source}`,
    });
    const done = page.locator('.notifications-toasts .notification-toast').filter({ hasText: /download(ed)?|saved|complete/i });
    await done.first().waitFor({ timeout: T.ui });
    await waitFor(async () => (await toasts(page)).some((t) => /downloaded|saved|complete|done/i.test(t)), {
      timeout: T.ui, what: 'a completion notification',
    }).catch(async (e) => {
      throw new Error(`${e.message}; toasts: ${JSON.stringify(await toasts(page))}`);
    });
    await ctx.step('notification');
    // The progress notification closes once the transfer is over.
    await page.locator('.notifications-toasts .notification-toast').filter({ hasText: 'Downloading' }).filter({ hasNotText: 'Downloaded' })
      .first().waitFor({ state: 'detached', timeout: T.ui });
    const shown = await toasts(page);
    assert.ok(!shown.some((t) => /fail|error/i.test(t)), `an error notification: ${JSON.stringify(shown)}`);
    assert.equal(fs.statSync(target).size, fs.statSync(source).size);
    assert.equal(sha256(target), sha256(source), 'downloaded bytes differ from the source');
    const leftovers = fs.readdirSync(s.dirs.downloads).filter((n) => n !== HDF5);
    assert.deepEqual(leftovers, [], 'temporary files left in the download folder');
    console.error(`toasts: ${JSON.stringify(shown)}`);
  });
});

test('recovery: the tree works again after the server process is killed', { timeout: T.test }, async () => {
  const s = await demoSetup('recovery');
  await withVSCode({ test: 'recovery', folder: s.demoDir, settings: s.settings, dirs: s.dirs }, async (ctx) => {
    const { page } = ctx;
    await openArtifactsView(ctx);
    await expandToRunFolder(ctx, s.ws, s.run, 'data');
    await hoverTooltip(page, row(page, HDF5).first(), 'HDF5');
    await ctx.step('before-kill');

    const before = await waitFor(() => {
      const p = serverPids(ctx.home);
      return p.length ? p : null;
    }, { timeout: T.server, what: 'the pyserver process of this test' });
    assert.equal(before.length, 1, `expected one server process, found ${before}`);
    process.kill(before[0], 'SIGKILL');
    await waitFor(() => !fs.existsSync(`/proc/${before[0]}`) || /\(Z\)|^\S+ \S+ Z /.test(fs.readFileSync(`/proc/${before[0]}/stat`, 'utf8')), {
      timeout: 10_000, what: 'the killed server to exit',
    });
    await sleep(500); // let the client notice the closed pipe
    await ctx.step('killed');

    // The extension restarts the server by itself; if not within 20 s, use the view's Refresh.
    let after = await waitFor(() => {
      const p = serverPids(ctx.home).filter((pid) => !before.includes(pid));
      return p.length ? p : null;
    }, { timeout: 20_000, what: 'a restarted server' }).catch(() => null);
    if (!after) {
      console.error('server not restarted automatically; clicking Refresh');
      const refresh = sidebar(page).locator('.actions-container .action-label[aria-label*="Refresh"]').first();
      await refresh.click();
      after = await waitFor(() => {
        const p = serverPids(ctx.home).filter((pid) => !before.includes(pid));
        return p.length ? p : null;
      }, { timeout: T.server, what: 'a restarted server after Refresh' });
    }
    await ctx.step('restarted');

    // Rows expand again (the tree may have been refreshed and collapsed), and an item not
    // hovered before is resolved by the new server.
    await expandToRunFolder(ctx, s.ws, s.run, 'models');
    const pkl = row(page, PICKLE).first();
    await pkl.waitFor({ timeout: T.server });
    const text = await hoverTooltip(page, pkl, /pickle/i);
    await ctx.step('hover-after-restart');
    assert.match(text, /pickle/i);
    console.error(`server ${before[0]} killed, restarted as ${after}; tooltip:\n${text}`);
  });
});

test('welcome: an empty folder shows the Create Demo Workspace button', { timeout: T.test }, async () => {
  const dirs = await makeTemp('welcome');
  const empty = path.join(dirs.root, 'empty');
  fs.mkdirSync(empty);
  await withVSCode({ test: 'welcome', folder: empty, dirs, settings: { 'amlArtifacts.localWorkspaces': [] } }, async (ctx) => {
    await openArtifactsView(ctx);
    const button = sidebar(ctx.page).getByRole('button', { name: /Create Demo Workspace/ });
    await button.waitFor({ timeout: T.server });
    await ctx.step('welcome');
    assert.equal(await sidebar(ctx.page).getByRole('treeitem').count(), 0, 'the tree should be empty');

    // The button works: it asks where to put the demo workspace, writes it with the real
    // CLI, adds it to amlArtifacts.localWorkspaces and the tree shows it.
    await button.click();
    const choice = ctx.page.locator('.quick-input-widget').getByRole('option', { name: /extension storage/i });
    await choice.waitFor();
    await ctx.step('quick-pick');
    await choice.click();
    const created = ctx.page.locator('.notifications-toasts .notification-toast').filter({ hasText: /Demo workspace created/ });
    await created.first().waitFor({ timeout: T.server });
    await row(ctx.page, /^demo(?![\w.-])/).first().waitFor({ timeout: T.server });
    await ctx.step('demo-created');
    const shown = await toasts(ctx.page);
    assert.ok(!shown.some((t) => /fail|error/i.test(t)), `an error notification: ${JSON.stringify(shown)}`);
  });
});
