// preview.test.mjs — the preview panel and image thumbnails, in real VS Code (code-server)
// + headless chromium.
//
//   panel      right-click simple_model_weights.pth → Open Preview: a webview panel titled
//              with the file name shows the summary, a "Safe" verdict banner, the rendered
//              preview and the bytes-read footer; a single click on untrusted/evil.pkl
//              retargets the panel, which shows the UNSAFE banner naming posix.system; the
//              panel's Download… button downloads the file; Refresh reads it again; a window
//              reload restores the panel on the same file; the
//              command palette's Open Preview on a missing path shows the server's error
//              with Retry. The webview document carries a nonce-based CSP.
//   thumbnail  hover a PNG of the animals dataset: the tree tooltip holds an <img> with a
//              data:image/png src (the server's thumbnail); the panel shows the same image,
//              and so does the editor hover on "datasets/animals/1/cats/cat_01.png" in a
//              Python file.
//
// Run: PYTHON_BIN=.venv/bin/python VSIX=dist/azureml-artifact-explorer.vsix node --test tests/e2e/preview.test.mjs
// Screenshots of every step: test-artifacts/e2e/<test>-<nn>-<step>.png

import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {
  T, makeTemp, makeDemoWorkspace, withVSCode, openArtifactsView, row, expand, hoverTooltip,
  sha256, waitFor, runCommand,
} from './harness.mjs';

const EXPERIMENT = 'train-classifier';
const WEIGHTS = 'simple_model_weights.pth';
const EVIL = 'evil.pkl';
const DATASET = 'animals';
const IMAGE = 'cat_01.png';
const PY_FILE = 'thumbnails_demo.py';

async function demoSetup(name) {
  const dirs = await makeTemp(name);
  const demoDir = path.join(dirs.root, 'demo');
  const ws = await makeDemoWorkspace(demoDir);
  const runs = ws.experiments[EXPERIMENT] ?? [];
  const run = runs.find((r) => !r.parent && fs.existsSync(path.join(r.dir, 'outputs', 'untrusted', EVIL)) && fs.existsSync(path.join(r.dir, 'outputs', WEIGHTS)));
  assert.ok(run, `no top-level run with outputs/${WEIGHTS} and outputs/untrusted/${EVIL} in ${JSON.stringify(runs.map((r) => r.id))}`);
  return { dirs, demoDir, ws, run, settings: { 'amlArtifacts.downloadDirectory': dirs.downloads } };
}

function rootLabel(ws) {
  return new RegExp(`^(${[ws.name, ws.folderName].map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|')})(?![\\w.-])`);
}

/**
 * The preview panel's document. A webview is an iframe (`iframe.webview`) whose document
 * holds another iframe (`#active-frame`) with our HTML; while VS Code swaps documents
 * (every render replaces the HTML) there can briefly be two of each, the live one last.
 */
function panelFrame(page) {
  return page.locator('iframe.webview.ready').last().contentFrame().locator('iframe#active-frame').contentFrame();
}

/** The editor tab of the preview panel. */
function panelTab(page, title) {
  return page.locator('.tabs-container .tab').filter({ hasText: title });
}

/** Wait until the panel shows `title` and a finished (ready or error) state; returns its frame. */
async function panelReady(page, title, state = 'ready') {
  await panelTab(page, title).first().waitFor({ timeout: T.server });
  const frame = panelFrame(page);
  await waitFor(async () => (await frame.locator('h1.title').innerText({ timeout: 2000 })) === title
    && (await frame.locator(`body.state-${state}`).count()) === 1, {
    timeout: T.server, what: `the preview panel to show ${title} (${state})`,
  });
  return frame;
}

test('panel: Open Preview shows summary, verdict and preview; retargets; downloads; errors', { timeout: T.test }, async () => {
  const s = await demoSetup('preview');
  await withVSCode({ test: 'preview', folder: s.demoDir, settings: s.settings, dirs: s.dirs }, async (ctx) => {
    const { page } = ctx;
    await openArtifactsView(ctx);
    const label = rootLabel(s.ws);
    await row(page, label).first().waitFor({ timeout: T.server });
    await expand(page, label);
    await expand(page, /^experiments(?![\w.-])/i);
    await expand(page, EXPERIMENT);
    await expand(page, s.run.label);
    await expand(page, 'outputs');
    await ctx.step('outputs');

    // Context menu → Open Preview.
    const weights = row(page, WEIGHTS).first();
    await weights.click({ button: 'right' });
    const item = page.getByRole('menuitem', { name: /^Open Preview/ });
    await item.waitFor();
    await ctx.step('context-menu');
    await item.click();
    let frame = await panelReady(page, WEIGHTS);
    await ctx.step('panel-weights');

    const summary = await frame.locator('.summary').innerText();
    assert.match(summary, /PyTorch checkpoint/);
    const verdict = frame.locator('section.verdict');
    assert.equal(await verdict.getAttribute('class'), 'verdict verdict-safe');
    assert.match(await verdict.innerText(), /^Safe/);
    const article = await frame.locator('article.markdown').innerText();
    assert.doesNotMatch(article, /\*\*|\\[._()-]/, 'markdown is rendered, not shown raw');
    assert.match(article, /tensor|OrderedDict|storage/i, 'the preview describes the checkpoint');
    assert.equal(await frame.locator('article.markdown strong').first().innerText(), WEIGHTS, 'markdown is rendered, not shown raw');
    const footer = await frame.locator('footer').innerText();
    assert.match(footer, /^Read \d+(\.\d)? (B|KiB)/);
    assert.equal(await frame.locator('footer.is-truncated').count(), 0);
    // The document is the one html.ts built: a nonce-based CSP and only nonce'd scripts.
    const csp = await frame.locator('meta[http-equiv="Content-Security-Policy"]').getAttribute('content');
    assert.match(csp, /default-src 'none'/);
    const nonce = /script-src 'nonce-([^']+)'/.exec(csp)?.[1];
    assert.ok(nonce, `no script nonce in ${csp}`);
    // (VS Code's webview host injects its own acquireVsCodeApi script before our document's
    // CSP meta tag; every script of ours comes after it and carries the nonce.)
    const scriptNonces = await frame.locator('script').evaluateAll((els) => {
      const meta = document.querySelector('meta[http-equiv="Content-Security-Policy"]');
      return els.filter((e) => meta.compareDocumentPosition(e) & Node.DOCUMENT_POSITION_FOLLOWING).map((e) => e.nonce);
    });
    assert.deepEqual(scriptNonces, [nonce]);
    assert.equal(await frame.locator('[onclick], [onerror], [onload]').count(), 0, 'no inline event handlers');

    // Refresh reads the file again and shows it again.
    await frame.locator('button#refresh').click();
    frame = await panelReady(page, WEIGHTS);
    assert.match(await frame.locator('.summary').innerText(), /PyTorch checkpoint/);

    // A single click on another file retargets the same panel (no second tab).
    await expand(page, 'untrusted');
    await row(page, EVIL).first().click();
    frame = await panelReady(page, EVIL);
    await ctx.step('panel-evil');
    assert.equal(await page.locator('.tabs-container .tab').filter({ hasText: WEIGHTS }).count(), 0, 'the panel should retarget, not open a second tab');
    const unsafe = frame.locator('section.verdict-unsafe');
    await unsafe.waitFor();
    const unsafeText = await unsafe.innerText();
    assert.match(unsafeText, /UNSAFE/);
    assert.match(unsafeText, /posix\.system/, 'the finding names the global');
    assert.match(await frame.locator('.summary').innerText(), /Pickle/);

    // Download… in the panel runs the download command for this file.
    const target = path.join(s.dirs.downloads, EVIL);
    const source = path.join(s.run.dir, 'outputs', 'untrusted', EVIL);
    await frame.locator('button#download').click();
    await waitFor(() => fs.existsSync(target) && fs.statSync(target).size === fs.statSync(source).size, {
      timeout: T.server, what: `${target} downloaded from the panel`,
    });
    assert.equal(sha256(target), sha256(source));
    await page.locator('.notifications-toasts .notification-toast').filter({ hasText: /Downloaded/ }).first().waitFor({ timeout: T.ui });
    await ctx.step('panel-download');

    // A window reload brings the panel back on the same artifact, read afresh.
    await runCommand(page, 'Developer: Reload Window');
    await page.waitForEvent('load', { timeout: T.server });
    await page.locator('.monaco-workbench').waitFor({ timeout: T.server });
    frame = await panelReady(page, EVIL);
    await frame.locator('section.verdict-unsafe').waitFor({ timeout: T.server });
    await ctx.step('panel-restored');

    // The command palette asks for a URI; a missing file shows the server's error + Retry.
    const missing = path.join(s.demoDir, 'no-such-file.pkl');
    await page.locator('.monaco-workbench').press('F1');
    const quickInput = page.locator('.quick-input-widget input');
    await quickInput.waitFor();
    await quickInput.fill('>AzureML Artifacts: Open Preview');
    await page.locator('.quick-input-widget').getByRole('option', { name: /AzureML Artifacts: Open Preview/ }).first().click();
    await page.locator('.quick-input-widget').filter({ hasText: /Artifact URI/ }).waitFor();
    await quickInput.fill(missing);
    await ctx.step('palette-uri');
    await quickInput.press('Enter');
    frame = await panelReady(page, 'no-such-file.pkl', 'error');
    await ctx.step('panel-error');
    const error = await frame.locator('.error').innerText();
    assert.match(error, /no-such-file\.pkl|not found|does not exist|no such/i);
    assert.equal(await frame.locator('button#refresh').innerText(), 'Retry');
    console.error(`panel summary: ${summary}\nunsafe banner: ${unsafeText}\nerror: ${error}`);
  });
});

test('thumbnail: a PNG shows its thumbnail in the tree tooltip, the panel and an editor hover', { timeout: T.test }, async () => {
  const s = await demoSetup('thumbnail');
  // A Python file in the opened folder that names the image by a relative path.
  fs.writeFileSync(path.join(s.demoDir, PY_FILE), `from PIL import Image\n\nimg = Image.open("datasets/${DATASET}/1/cats/${IMAGE}")\n`);
  await withVSCode({ test: 'thumbnail', folder: s.demoDir, settings: s.settings, dirs: s.dirs }, async (ctx) => {
    const { page } = ctx;
    await openArtifactsView(ctx);
    const label = rootLabel(s.ws);
    await row(page, label).first().waitFor({ timeout: T.server });
    await expand(page, label);
    await expand(page, /^datasets(?![\w.-])/i);
    await expand(page, DATASET);
    await expand(page, '1');
    await expand(page, 'cats');
    await ctx.step('dataset');

    const png = row(page, IMAGE).first();
    const text = await hoverTooltip(page, png, 'PNG');
    await ctx.step('hover');
    const hover = page.locator('.workbench-hover').filter({ hasText: 'PNG' }).first();
    const images = await hover.locator('img').evaluateAll((els) => els.map((e) => ({ src: e.getAttribute('src') ?? '', ok: e.complete && e.naturalWidth > 0 })));
    console.error(`tooltip: ${text}\nimages: ${JSON.stringify(images.map((i) => ({ src: i.src.slice(0, 40), ok: i.ok })))}`);
    assert.ok(images.length > 0, `the tooltip has no <img> (text: ${text})`);
    assert.match(images[0].src, /^data:image\/png;base64,/);
    await waitFor(async () => (await hover.locator('img').first().evaluate((e) => e.complete && e.naturalWidth > 0)), {
      timeout: T.ui, what: 'the tooltip thumbnail to load',
    });

    // The same thumbnail in the panel (a click opens it there).
    await page.mouse.move(5, 5);
    await png.click();
    const frame = await panelReady(page, IMAGE);
    const img = frame.locator('article.markdown img').first();
    await img.waitFor();
    assert.match(await img.getAttribute('src'), /^data:image\/png;base64,/);
    await waitFor(() => img.evaluate((e) => e.complete && e.naturalWidth > 0), { timeout: T.ui, what: 'the panel thumbnail to load' });
    await ctx.step('panel-thumbnail');

    // An editor hover on a path string in Python code renders the same data: thumbnail.
    await page.locator('.monaco-workbench').press('Control+P');
    const quickInput = page.locator('.quick-input-widget input');
    await quickInput.waitFor();
    await quickInput.fill(PY_FILE);
    await page.locator('.quick-input-widget').getByRole('option', { name: new RegExp(PY_FILE.replace('.', '\\.')) }).first().click();
    const literal = page.locator('.monaco-editor .view-lines span').filter({ hasText: IMAGE }).last();
    await literal.waitFor({ timeout: T.server });
    const editorHover = page.locator('.monaco-hover').filter({ hasText: 'PNG' });
    await waitFor(async () => {
      await page.mouse.move(5, 5);
      await literal.hover();
      return editorHover.first().waitFor({ state: 'visible', timeout: 10_000 }).then(() => true, () => false);
    }, { timeout: T.server, what: 'an editor hover on the path string' });
    await ctx.step('editor-hover');
    const hoverImg = editorHover.first().locator('img').first();
    await hoverImg.waitFor({ timeout: T.ui });
    assert.match(await hoverImg.getAttribute('src'), /^data:image\/png;base64,/);
    await waitFor(() => hoverImg.evaluate((e) => e.complete && e.naturalWidth > 0), { timeout: T.ui, what: 'the editor hover thumbnail to load' });
  });
});
