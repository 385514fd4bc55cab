// harness.mjs — shared harness for the end-to-end tests: real VS Code (code-server) in
// headless Debian chromium, driven by playwright-core.
//
// startVSCode() gives each test its own temp folder with an isolated HOME / TMPDIR / XDG_*,
// a fresh user-data-dir and extensions-dir, the VSIX installed, code-server on a free
// loopback port opening the requested folder, and a chromium page on the workbench.
// close() kills the whole process group (and, to be sure, every process whose environment
// has this test's HOME), on success or failure; an exit hook does the same if the test
// process dies. Every step() saves <repo>/test-artifacts/e2e/<test>-<nn>-<step>.png; on
// failure the code-server and VS Code logs are copied next to the screenshots.
//
// Environment: PYTHON_BIN (python with pyserver installed), VSIX (the packaged extension),
// TOOLS_DIR (where scripts/install-tools.sh put code-server; default
// ~/.cache/aml-artifacts-explorer), CHROMIUM (default /usr/bin/chromium),
// E2E_KEEP=1 keeps the temp folders.

import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const ARTIFACTS = path.join(REPO, 'test-artifacts', 'e2e');
export const TOOLS_DIR = process.env.TOOLS_DIR || path.join(os.homedir(), '.cache', 'aml-artifacts-explorer');
export const CODE_SERVER = process.env.CODE_SERVER || path.join(TOOLS_DIR, 'bin', 'code-server');
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
export const PYTHON_BIN = process.env.PYTHON_BIN || path.join(REPO, '.venv', 'bin', 'python');
export const VSIX = process.env.VSIX || path.join(REPO, 'dist', 'azureml-artifact-explorer.vsix');

/** Timeouts (ms). The workbench needs 6–8 s on this machine; be generous. */
export const T = { workbench: 90_000, ui: 30_000, server: 60_000, test: 240_000 };

const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--disable-dev-shm-usage',
];

export const BASE_SETTINGS = {
  'workbench.startupEditor': 'none',
  'workbench.reduceMotion': 'on',
  'workbench.tips.enabled': false,
  'workbench.enableExperiments': false,
  'workbench.view.alwaysShowHeaderActions': true,
  'workbench.hover.delay': 300,
  'telemetry.telemetryLevel': 'off',
  'extensions.autoCheckUpdates': false,
  'extensions.autoUpdate': false,
  'extensions.ignoreRecommendations': true,
  'update.mode': 'none',
  'git.enabled': false,
  'security.workspace.trust.enabled': false,
  'chat.disableAIFeatures': true,
  'workbench.secondarySideBar.defaultVisibility': 'hidden',
};

// ---------------------------------------------------------------------------------------
// playwright-core: from the repo's node_modules (devDependency); PLAYWRIGHT_CORE may name
// another install (a folder holding node_modules/playwright-core) while developing.
export async function loadPlaywright() {
  try {
    return await import('playwright-core');
  } catch (err) {
    const alt = process.env.PLAYWRIGHT_CORE;
    if (!alt) throw new Error(`playwright-core is not installed (npm install in ${REPO}): ${err.message}`);
    const req = createRequire(path.join(alt, 'noop.js'));
    return await import(pathToFileURL(req.resolve('playwright-core')).href);
  }
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Poll fn() until it returns a truthy value; throw `what` after timeout. */
export async function waitFor(fn, { timeout = T.ui, interval = 200, what = 'condition' } = {}) {
  const end = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) throw new Error(`timed out after ${timeout} ms waiting for ${what}${last ? `: ${last.message}` : ''}`);
    await sleep(interval);
  }
}

export function escapeRegExp(s) {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** A regexp for a tree row whose accessible name starts with `label` (not a longer name). */
export function rowName(label, flags = '') {
  return new RegExp(`^${escapeRegExp(label)}(?![\\w.-])`, flags);
}

export function sha256(file) {
  return createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

export function requirePrereqs() {
  const missing = [];
  if (!fs.existsSync(CODE_SERVER)) missing.push(`code-server (${CODE_SERVER}; run \`make tools\`)`);
  if (!fs.existsSync(CHROMIUM)) missing.push(`chromium (${CHROMIUM}; run \`make tools\`)`);
  if (!fs.existsSync(PYTHON_BIN)) missing.push(`python (${PYTHON_BIN}; set PYTHON_BIN)`);
  if (!fs.existsSync(VSIX)) missing.push(`extension package (${VSIX}; run \`make vsix\`, or set VSIX)`);
  if (missing.length) throw new Error(`e2e prerequisites missing:\n  ${missing.join('\n  ')}`);
}

// ---------------------------------------------------------------------------------------
// Processes. Everything we start lives in its own process group; a registry lets the exit
// hook kill what a crashed test left behind.
const live = new Set(); // {pgid, home}

function killGroup(pgid, signal) {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    return false;
  }
}

/** Pids of processes whose environment has HOME=<home> (this test's processes only). */
export function pidsWithHome(home) {
  const out = [];
  const needle = Buffer.from(`\0HOME=${home}\0`);
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d) || Number(d) === process.pid) continue;
    try {
      const env = Buffer.concat([Buffer.from([0]), fs.readFileSync(`/proc/${d}/environ`)]);
      if (env.indexOf(needle) >= 0) out.push(Number(d));
    } catch {
      /* gone or not ours */
    }
  }
  return out;
}

export function cmdline(pid) {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  } catch {
    return null;
  }
}

/** The pyserver language-server processes started for this test (matched by HOME). */
export function serverPids(home) {
  return pidsWithHome(home).filter((pid) => {
    const args = cmdline(pid);
    if (!args) return false;
    const s = args.join(' ');
    return /(^|\s)-m\s+pyserver\s+serve(\s|$)/.test(s) || /aml-artifacts\s+serve(\s|$)/.test(s);
  });
}

function killEverything(entry, signal = 'SIGKILL') {
  killGroup(entry.pgid, signal);
  if (!entry.home) return; // a helper service: its process group is all there is
  for (const pid of pidsWithHome(entry.home)) {
    try {
      process.kill(pid, signal);
    } catch {
      /* already gone */
    }
  }
}

const temps = new Set(); // temp roots not yet removed

process.on('exit', () => {
  // A helper service gets SIGTERM: it then stops what it started itself (Azurite runs in a
  // process group of its own) after this process is gone.
  for (const e of live) killEverything(e, e.home ? 'SIGKILL' : 'SIGTERM');
  if (!process.env.E2E_KEEP) for (const t of temps) fs.rmSync(t, { recursive: true, force: true });
});
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    for (const e of live) killEverything(e, e.home ? 'SIGKILL' : 'SIGTERM');
    process.exit(130);
  });
}

function run(cmd, args, opts) {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { ...opts, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (out += d));
    p.on('error', reject);
    p.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} ${args.join(' ')} exited ${code}:\n${out}`))));
  });
}

async function httpOk(url) {
  try {
    const r = await fetch(url, { signal: AbortSignal.timeout(2000) });
    return r.status < 500;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------
/** Make a temp root with an isolated home layout. */
export async function makeTemp(name) {
  const root = await fsp.mkdtemp(path.join(os.tmpdir(), `aml-e2e-${name}-`));
  temps.add(root);
  const dirs = {
    root,
    home: path.join(root, 'home'),
    tmp: path.join(root, 'tmp'),
    userData: path.join(root, 'user-data'),
    extensions: path.join(root, 'extensions'),
    downloads: path.join(root, 'downloads'),
  };
  for (const d of Object.values(dirs)) await fsp.mkdir(d, { recursive: true });
  for (const d of ['.config', '.local/share', '.cache']) await fsp.mkdir(path.join(dirs.home, d), { recursive: true });
  return dirs;
}

/** Generate the demo local workspace with the real CLI. */
export async function makeDemoWorkspace(dir) {
  await run(PYTHON_BIN, ['-m', 'pyserver', 'demo-workspace', dir], { cwd: REPO });
  if (!fs.existsSync(path.join(dir, 'workspace.json'))) throw new Error(`demo-workspace wrote no workspace.json in ${dir}`);
  return describeWorkspace(dir);
}

/** What the tests need to know of a local workspace, read from its files (no hard-coding). */
export function describeWorkspace(dir) {
  const ws = JSON.parse(fs.readFileSync(path.join(dir, 'workspace.json'), 'utf8'));
  const experiments = {};
  const expRoot = path.join(dir, 'experiments');
  for (const exp of fs.existsSync(expRoot) ? fs.readdirSync(expRoot) : []) {
    const runs = [];
    for (const id of fs.readdirSync(path.join(expRoot, exp))) {
      const runDir = path.join(expRoot, exp, id);
      let meta = {};
      try {
        meta = JSON.parse(fs.readFileSync(path.join(runDir, 'run.json'), 'utf8'));
      } catch {
        /* corrupt run.json: shown with its id */
      }
      if (!meta || typeof meta !== 'object' || Array.isArray(meta)) meta = {};
      runs.push({ id, dir: runDir, label: meta.display_name || id, status: meta.status, parent: meta.parent_id || null, start: meta.start_time || '' });
    }
    // The tree lists top-level runs newest first.
    runs.sort((a, b) => (a.start < b.start ? 1 : a.start > b.start ? -1 : 0));
    experiments[exp] = runs;
  }
  return { dir, name: ws.name || path.basename(dir), folderName: path.basename(dir), meta: ws, experiments };
}

/**
 * Start code-server with the VSIX installed, opening `folder`, and a chromium page on it.
 * Returns a context with page, dirs, step(), close(), etc.
 */
export async function startVSCode({ test: testName, folder, settings = {}, dirs }) {
  requirePrereqs();
  dirs = dirs || (await makeTemp(testName));
  const { home } = dirs;
  const env = {
    ...process.env,
    HOME: home,
    TMPDIR: dirs.tmp,
    XDG_CONFIG_HOME: path.join(home, '.config'),
    XDG_DATA_HOME: path.join(home, '.local/share'),
    XDG_CACHE_HOME: path.join(home, '.cache'),
  };
  // Run from a VS Code terminal, these would point code-server at the outer instance.
  for (const k of Object.keys(env)) if (k.startsWith('VSCODE_') || k.startsWith('ELECTRON_')) delete env[k];

  // code-server is a remote window: once the remote configuration has loaded, machine
  // (-overridable) settings such as amlArtifacts.python are taken from Machine/settings.json,
  // not User/settings.json. Write that one to both (only that one: a Machine value would
  // override what the extension later writes to the User settings).
  const all = { ...BASE_SETTINGS, 'amlArtifacts.python': PYTHON_BIN, ...settings };
  const ours = { 'amlArtifacts.python': all['amlArtifacts.python'] };
  for (const [sub, content] of [['User', all], ['Machine', ours]]) {
    await fsp.mkdir(path.join(dirs.userData, sub), { recursive: true });
    await fsp.writeFile(path.join(dirs.userData, sub, 'settings.json'), JSON.stringify(content, null, 2));
  }

  const common = ['--user-data-dir', dirs.userData, '--extensions-dir', dirs.extensions];
  const t0 = Date.now();
  await run(CODE_SERVER, [...common, '--install-extension', VSIX, '--force'], { env, cwd: home });
  const tInstall = Date.now() - t0;

  const port = await freePort();
  const logFile = path.join(dirs.root, 'code-server.log');
  const logFd = fs.openSync(logFile, 'a');
  const proc = spawn(
    CODE_SERVER,
    [...common, '--bind-addr', `127.0.0.1:${port}`, '--auth', 'none', '--disable-telemetry', '--disable-update-check', '--disable-workspace-trust', '--disable-getting-started-override', folder],
    { env, cwd: home, detached: true, stdio: ['ignore', logFd, logFd] },
  );
  fs.closeSync(logFd);
  const entry = { pgid: proc.pid, home };
  live.add(entry);
  let exited = null;
  proc.on('exit', (code, sig) => (exited = { code, sig }));

  const ctx = {
    name: testName, dirs, home, port, folder, proc, logFile, env,
    url: `http://127.0.0.1:${port}/?folder=${encodeURIComponent(folder)}`,
    browser: null, page: null, stepNo: 0, failed: false, timings: { install: tInstall },
  };

  ctx.step = async (step) => {
    ctx.stepNo += 1;
    if (!ctx.page) return;
    await fsp.mkdir(ARTIFACTS, { recursive: true });
    const file = path.join(ARTIFACTS, `${testName}-${String(ctx.stepNo).padStart(2, '0')}-${step}.png`);
    try {
      await ctx.page.screenshot({ path: file, timeout: 15_000 });
    } catch (e) {
      console.error(`screenshot ${file} failed: ${e.message}`);
    }
  };

  ctx.close = async () => {
    if (ctx.failed) await saveLogs(ctx).catch((e) => console.error(`saving logs failed: ${e.message}`));
    try {
      if (ctx.browser) await ctx.browser.close();
    } catch {
      /* already gone */
    }
    killGroup(entry.pgid, 'SIGTERM');
    await waitFor(() => exited !== null && pidsWithHome(home).length === 0, { timeout: 5000, what: 'code-server to stop' }).catch(() => {});
    killEverything(entry, 'SIGKILL');
    live.delete(entry);
    if (!process.env.E2E_KEEP) {
      await fsp.rm(dirs.root, { recursive: true, force: true }).catch(() => {});
      temps.delete(dirs.root);
    } else console.error(`kept ${dirs.root}`);
  };

  try {
    const t1 = Date.now();
    await waitFor(async () => {
      if (exited) throw new Error(`code-server exited ${JSON.stringify(exited)}:\n${tail(logFile)}`);
      return httpOk(`http://127.0.0.1:${port}/healthz`);
    }, { timeout: T.workbench, what: `code-server on port ${port}` });
    const { chromium } = await loadPlaywright();
    ctx.browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
    const context = await ctx.browser.newContext({ viewport: { width: 1440, height: 900 } });
    ctx.page = await context.newPage();
    ctx.page.setDefaultTimeout(T.ui);
    await ctx.page.goto(ctx.url, { waitUntil: 'domcontentloaded', timeout: T.workbench });
    await ctx.page.locator('.monaco-workbench').waitFor({ timeout: T.workbench });
    // The activity bar is populated once the workbench has restored its views.
    await ctx.page.locator('.activitybar [role="tab"]').first().waitFor({ timeout: T.workbench });
    ctx.timings.workbench = Date.now() - t1;
    await ctx.step('workbench');
  } catch (e) {
    ctx.failed = true;
    await ctx.step('startup-failure').catch(() => {});
    await ctx.close();
    throw e;
  }
  return ctx;
}

/** Run `body(ctx)` with a started VS Code; screenshots + logs on failure; always cleans up. */
export async function withVSCode(opts, body) {
  const ctx = await startVSCode(opts);
  try {
    return await body(ctx);
  } catch (e) {
    ctx.failed = true;
    await ctx.step('failure');
    const server = tail(path.join(ctx.dirs.root, 'code-server.log'), 20);
    if (server) e.message += `\n--- code-server.log (tail) ---\n${server}`;
    throw e;
  } finally {
    await ctx.close();
  }
}

function tail(file, n = 40) {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').slice(-n).join('\n');
  } catch {
    return '';
  }
}

async function saveLogs(ctx) {
  const dest = path.join(ARTIFACTS, `${ctx.name}-logs`);
  await fsp.rm(dest, { recursive: true, force: true });
  await fsp.mkdir(dest, { recursive: true });
  await fsp.copyFile(ctx.logFile, path.join(dest, 'code-server.log')).catch(() => {});
  // Helper services' logs (amlstandin.log, blobstore.log) sit beside it.
  for (const name of fs.readdirSync(ctx.dirs.root).filter((n) => n.endsWith('.log') && n !== 'code-server.log')) {
    await fsp.copyFile(path.join(ctx.dirs.root, name), path.join(dest, name)).catch(() => {});
  }
  const logs = path.join(ctx.dirs.userData, 'logs');
  if (fs.existsSync(logs)) await fsp.cp(logs, path.join(dest, 'vscode-logs'), { recursive: true }).catch(() => {});
  console.error(`logs saved in ${dest}`);
}

// ---------------------------------------------------------------------------------------
// Workbench helpers.

/** The side bar (where our view container shows). */
export function sidebar(page) {
  return page.locator('.part.sidebar');
}

/** Open the "AzureML Artifacts" activity-bar container. */
export async function openArtifactsView(ctx) {
  const { page } = ctx;
  const tab = page.locator('.part.activitybar').getByRole('tab', { name: /AzureML Artifacts/ });
  await tab.waitFor({ timeout: T.workbench });
  const selected = await tab.getAttribute('aria-selected');
  if (selected !== 'true') await tab.click();
  await sidebar(page).locator('.composite.title, .title-label').first().waitFor();
  await waitFor(async () => (await tab.getAttribute('aria-selected')) === 'true', { what: 'AzureML Artifacts view to open' });
}

/** A tree row in the side bar by its label (accessible name starts with it). */
export function row(page, label, flags = '') {
  const re = typeof label === 'string' ? rowName(label, flags) : label;
  return sidebar(page).getByRole('treeitem', { name: re });
}

/** Wait for a row and expand it when collapsed; resolves once it is expanded. */
export async function expand(page, label, { timeout = T.server } = {}) {
  const r = row(page, label).first();
  await r.waitFor({ timeout });
  if ((await r.getAttribute('aria-expanded')) !== 'true') {
    await r.click();
    await waitFor(async () => (await r.getAttribute('aria-expanded')) === 'true', { timeout, what: `row ${label} to expand` });
  }
  return r;
}

/** Collapse a row when expanded; resolves once it is collapsed. */
export async function collapse(page, label, { timeout = T.ui } = {}) {
  const r = row(page, label).first();
  await r.waitFor({ timeout });
  if ((await r.getAttribute('aria-expanded')) === 'true') {
    await r.click();
    await waitFor(async () => (await r.getAttribute('aria-expanded')) === 'false', { timeout, what: `row ${label} to collapse` });
  }
  return r;
}

/** Hover a row and wait for its tooltip (`.workbench-hover`) to contain `text`. */
export async function hoverTooltip(page, rowLocator, text, { timeout = T.server } = {}) {
  const hover = page.locator('.workbench-hover').filter({ hasText: text });
  const end = Date.now() + timeout;
  // A hover can be dismissed by a re-render; move away and back until it shows.
  for (let attempt = 0; ; attempt++) {
    await page.mouse.move(5, 5);
    await rowLocator.hover();
    try {
      await hover.first().waitFor({ state: 'visible', timeout: Math.min(15_000, Math.max(1000, end - Date.now())) });
      return (await hover.first().innerText()).trim();
    } catch (e) {
      if (Date.now() > end) {
        const any = await page.locator('.workbench-hover').allInnerTexts().catch(() => []);
        throw new Error(`no tooltip containing ${text} (hovers seen: ${JSON.stringify(any)}): ${e.message}`);
      }
    }
  }
}

/** Texts of the notification toasts currently shown. */
export async function toasts(page) {
  return page.locator('.notifications-toasts .notification-toast').allInnerTexts();
}

/** The quick input widget (command palette, input boxes, quick picks, the simple file dialog). */
export function quickInput(page) {
  return page.locator('.quick-input-widget');
}

/** Run a command from the command palette (F1) by its title, e.g. 'Download Artifact URI…'. */
export async function runCommand(page, title) {
  const widget = quickInput(page);
  await page.keyboard.press('F1');
  const input = widget.locator('input').first();
  await input.waitFor();
  await input.fill(`>${title}`);
  const option = widget.getByRole('option', { name: new RegExp(escapeRegExp(title)) }).first();
  await option.waitFor();
  await option.click();
}

/** The value of `input` once it has not changed for `ms`. */
async function settledValue(input, ms = 500) {
  let last = await input.inputValue();
  let since = Date.now();
  const end = Date.now() + T.ui;
  while (Date.now() < end) {
    await sleep(100);
    const value = await input.inputValue();
    if (value !== last) {
      last = value;
      since = Date.now();
    } else if (Date.now() - since >= ms) {
      return value;
    }
  }
  throw new Error(`the input kept changing for ${T.ui} ms (last: ${last})`);
}

/**
 * Answer a folder dialog. In code-server the workspace is remote, so VS Code shows its own
 * "simple" file dialog (a quick input with a path box and an OK button labelled `okLabel`)
 * for vscode.window.showOpenDialog: type `folder` and press the OK button.
 */
export async function chooseFolder(page, folder, okLabel) {
  const widget = quickInput(page);
  const ok = widget.getByRole('button', { name: okLabel });
  await ok.waitFor();
  const input = widget.locator('input').first();
  const value = folder.endsWith('/') ? folder : `${folder}/`;
  // The dialog opens with the previous quick input's text, then moves to its default folder
  // (listing it, `..` first) in steps: typing before it has settled is overwritten.
  await widget.getByRole('option', { name: '..' }).first().waitFor();
  await settledValue(input);
  for (let attempt = 1; ; attempt++) {
    await input.fill(value);
    if ((await settledValue(input)) === value) break;
    if (attempt === 3) throw new Error(`the folder dialog does not keep ${value}: ${await input.inputValue()}`);
  }
  await ok.click();
  await widget.waitFor({ state: 'hidden' });
}

/** A notification toast whose text matches `text`. */
export function toast(page, text) {
  return page.locator('.notifications-toasts .notification-toast').filter({ hasText: text });
}

/** A button of the modal dialog (vscode.window.show*Message with `modal: true`). */
export function dialogButton(page, name) {
  return page.locator('.monaco-dialog-box').getByRole('button', { name });
}

/** Dismiss every notification (so the next step's toasts are its own). */
export async function clearNotifications(page) {
  await runCommand(page, 'Clear All Notifications');
  await waitFor(async () => (await toasts(page)).length === 0, { what: 'the notifications to clear' });
}

// ---------------------------------------------------------------------------------------
// Helper services: the Azure ML stand-in, a blob store. Each runs in its own process group,
// writes `envFile` once it serves, and serves until its standard input closes.

/**
 * Start `cmd args` (stdout and stderr to `log`), wait until it has written `envFile`, and
 * resolve to { info: <envFile's JSON>, stop() }. The exit hook stops it if the test dies.
 */
export async function startHelper({ cmd, args, cwd = REPO, env = process.env, envFile, log, timeout = T.server }) {
  const fd = fs.openSync(log, 'a');
  const proc = spawn(cmd, args, { cwd, env, stdio: ['pipe', fd, fd], detached: true });
  fs.closeSync(fd);
  const entry = { pgid: proc.pid, home: null };
  live.add(entry);
  let exited = false;
  proc.on('exit', () => (exited = true));
  const stop = async () => {
    if (!exited) {
      proc.stdin.end();
      const gone = await waitFor(() => exited, { timeout: 15_000, what: `${path.basename(log)} to stop` }).catch(() => false);
      if (!gone) killGroup(entry.pgid, 'SIGKILL');
    }
    live.delete(entry);
  };
  try {
    await waitFor(() => exited || fs.existsSync(envFile), { timeout, what: `${path.basename(cmd)} to write ${envFile}` });
    if (exited) throw new Error(`${cmd} ${args.join(' ')} exited at start:\n${tail(log)}`);
    return { info: JSON.parse(fs.readFileSync(envFile, 'utf8')), stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

/**
 * The Azure ML stand-in (tests/python/amlstandin: the real azureml-core talks to a local
 * stand-in service, the stand-in `az` signs in, Azurite holds the bytes); resolves to
 * { env, workspace, az, folder, stop() }.
 */
export async function startStandin(dirs, extraArgs = []) {
  const folder = path.join(dirs.root, 'aml');
  const envFile = path.join(dirs.root, 'aml-env.json');
  const { info, stop } = await startHelper({
    cmd: PYTHON_BIN,
    args: ['-m', 'amlstandin', '--folder', folder, '--env-file', envFile, ...extraArgs],
    cwd: path.join(REPO, 'tests', 'python'),
    envFile,
    log: path.join(dirs.root, 'amlstandin.log'),
  });
  const { env, workspace, az } = info;
  return { env, workspace, az, folder, stop };
}

/**
 * Run `body(ctx)` in VS Code with amlArtifacts.workspaces naming the stand-in workspace and
 * the process environment pointing at the stand-ins; restores the environment afterwards.
 */
export async function withStandinVSCode(name, standin, dirs, body) {
  const saved = { ...process.env };
  try {
    // What the server needs to reach the stand-ins (code-server passes its environment on).
    // The proxy variables stay out: the Python tests check that nothing leaves the machine.
    for (const [key, value] of Object.entries(standin.env)) {
      if (!/proxy/i.test(key) && key !== 'HOME') process.env[key] = value;
    }
    // VS Code gives the extension host the PATH of a login shell (it resolves the shell
    // environment), so the stand-in `az` goes first on PATH through this test's own HOME
    // (terminals read it too).
    const azBin = standin.env.PATH.split(':')[0];
    const profile = `export PATH="${azBin}:$PATH"\n`;
    for (const file of ['.profile', '.bashrc', '.zshenv']) fs.writeFileSync(path.join(dirs.home, file), profile);
    const project = path.join(dirs.root, 'project');
    fs.mkdirSync(project, { recursive: true });
    const settings = { 'amlArtifacts.workspaces': [standin.workspace], 'amlArtifacts.localWorkspaces': [] };
    await withVSCode({ test: name, folder: project, settings, dirs }, body);
  } finally {
    for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key];
    Object.assign(process.env, saved);
  }
}

/**
 * A blob store for download tests (tests/e2e/blobstore.py): Azurite with `blobs` (blob name
 * → local file) in `container`, and a TCP proxy in front of it limited to `rate` bytes/s.
 * Resolves to { connectionString, slowConnectionString (through the proxy), container,
 * stats() → {bytesDown, connections} forwarded by the proxy so far, stop() }.
 */
export async function startBlobStore(dirs, { container, rate, blobs }) {
  const envFile = path.join(dirs.root, 'blobstore.json');
  const { info, stop } = await startHelper({
    cmd: PYTHON_BIN,
    args: [
      path.join(REPO, 'tests', 'e2e', 'blobstore.py'),
      '--folder', path.join(dirs.root, 'blobstore'), '--env-file', envFile, '--container', container,
      '--rate', String(rate), ...Object.entries(blobs).map(([name, file]) => `${name}=${file}`),
    ],
    env: { ...process.env, PYTHONPATH: path.join(REPO, 'tests', 'python') },
    envFile,
    log: path.join(dirs.root, 'blobstore.log'),
  });
  const stats = () => JSON.parse(fs.readFileSync(`${envFile}.stats`, 'utf8'));
  await waitFor(() => fs.existsSync(`${envFile}.stats`), { what: 'the blob store statistics' });
  return { ...info, stats, stop };
}
