// azureml.test.mjs — an Azure ML workspace in real VS Code (code-server) + headless chromium.
//
//   remote-hover  amlArtifacts.workspaces names the stand-in workspace (tests/python/amlstandin:
//                 the real azureml-core talks to a local stand-in service, the stand-in `az`
//                 signs in, Azurite holds the bytes); expand ws-main → Experiments → train →
//                 first training → outputs and hover data.h5: the tooltip is its HDF5 preview,
//                 read with ranged requests from blob storage.
//   sign-in       the stand-in `az` starts logged out: ws-main shows "Not signed in" with
//                 "Sign in…" and "Retry" under it; Sign in offers the Azure CLI or a browser:
//                 the Azure CLI runs `az login` in a VS Code terminal (the stand-in `az` logs
//                 in), Retry then lists Experiments.
//                 Then Filter Runs… on experiment `many` (status Failed): the row shows the
//                 filter and lists only failed runs; Clear Filter lists them all again.
//
// Run: PYTHON_BIN=.venv/bin/python VSIX=dist/azureml-artifact-explorer.vsix node --test tests/e2e/

import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import {
  T, makeTemp, startStandin, withStandinVSCode, openArtifactsView, row, expand, hoverTooltip, waitFor, sleep,
} from './harness.mjs';

test('remote-hover: a run output in an Azure ML workspace previews as HDF5', { timeout: T.test }, async () => {
  const dirs = await makeTemp('azureml');
  const standin = await startStandin(dirs);
  try {
    await withStandinVSCode('azureml', standin, dirs, async (ctx) => {
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
    await standin.stop();
  }
});

test('sign-in: a signed-out workspace offers Sign in and Retry, then lists its experiments', { timeout: T.test }, async () => {
  const dirs = await makeTemp('azureml-signin');
  const standin = await startStandin(dirs, ['--signed-out']);
  const logins = () => fs.readFileSync(standin.az.calls, 'utf8').split('\n').filter((line) => line.startsWith('login'));
  try {
    await withStandinVSCode('azureml-signin', standin, dirs, async (ctx) => {
      const { page } = ctx;
      await openArtifactsView(ctx);
      const workspace = row(page, standin.workspace.name).first();
      await workspace.waitFor({ timeout: T.server });
      const signIn = row(page, 'Sign in…').first();
      await signIn.waitFor({ timeout: T.server });
      await row(page, 'Retry').first().waitFor();
      assert.match(await workspace.innerText(), /Not signed in/);
      await ctx.step('signed-out');
      await signIn.click();
      const cli = page.locator('.quick-input-widget').getByRole('option', { name: /Sign in with the Azure CLI \(az login\)/ });
      await cli.waitFor();
      await cli.click();
      // The terminal runs the stand-in `az login`, which signs in.
      await waitFor(() => logins().length > 0, { timeout: T.server, what: '`az login` to run in a terminal' });
      await ctx.step('signed-in');
      await row(page, 'Retry').first().click();
      await expand(page, standin.workspace.name);
      await row(page, 'Experiments').first().waitFor({ timeout: T.server });
      assert.equal(await row(page, 'Sign in…').count(), 0);
      await ctx.step('retried');

      // Filter Runs… from the experiment's context menu: status Failed, no tag.
      await expand(page, 'Experiments');
      const many = row(page, 'many').first();
      await many.waitFor({ timeout: T.server });
      await many.click({ button: 'right' });
      const filterItem = page.getByRole('menuitem', { name: /^Filter Runs/ });
      await filterItem.waitFor();
      await sleep(300); // the menu takes clicks once it has settled
      await filterItem.click();
      const quickInput = page.locator('.quick-input-widget');
      const failed = quickInput.locator('.monaco-list-row').filter({ hasText: /^\s*Failed\s*$/ }).first();
      await failed.waitFor({ timeout: T.ui });
      await failed.click();
      await waitFor(async () => /1 Selected/.test(await quickInput.innerText()), { what: 'Failed to be checked' });
      await page.keyboard.press('Enter');
      await quickInput.locator('input').first().waitFor();
      await waitFor(async () => /tag/i.test(await quickInput.innerText()), { what: 'the tag input box' });
      await page.keyboard.press('Enter');
      await waitFor(async () => /filter: Failed/.test(await many.innerText()), { timeout: T.server, what: 'the filter on the row' });
      await expand(page, 'many');
      await row(page, 'sweep 1996').first().waitFor({ timeout: T.server });
      assert.equal(await row(page, 'sweep 1999').count(), 0, 'a Completed run is filtered out');
      await ctx.step('filtered');
      await many.click({ button: 'right' });
      const clearItem = page.getByRole('menuitem', { name: /^Clear Filter/ });
      await clearItem.waitFor();
      await sleep(300);
      await clearItem.click();
      await row(page, 'sweep 1999').first().waitFor({ timeout: T.server });
      assert.doesNotMatch(await many.innerText(), /filter:/);
      await ctx.step('unfiltered');
    });
  } finally {
    await standin.stop();
  }
});
