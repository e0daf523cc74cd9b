// Browser tests of the dashboard: Playwright (playwright-core, no bundled
// browser) driving Debian's chromium against a real controller and agent,
// which tests/e2e/dashboard_browser_e2e_test.cc starts and describes here
// through the environment:
//
//   GANTRY_HTTP            the controller's HTTPS base URL
//   GANTRY_ADMIN_TOKEN     a token of the bootstrap admin
//   GANTRY_VIEWER_TOKEN    a token of a user who may only view
//   GANTRY_RELEASE_FILE    the `console` job waits for this file to exist
//   GANTRY_SCREENSHOTS     where the pages' screenshots go
//   CHROMIUM               the browser (default /usr/bin/chromium)
//
// Every wait is for a condition with a deadline (Playwright's expectations
// poll); nothing sleeps.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const base = process.env.GANTRY_HTTP;
const adminToken = process.env.GANTRY_ADMIN_TOKEN;
const viewerToken = process.env.GANTRY_VIEWER_TOKEN;
const releaseFile = process.env.GANTRY_RELEASE_FILE;
const shots = process.env.GANTRY_SCREENSHOTS;
const DEADLINE = 30_000;

let browser;

before(async () => {
  assert.ok(base && adminToken && viewerToken && releaseFile && shots,
    'run through dashboard_browser_e2e_test, which sets the GANTRY_* variables');
  mkdirSync(shots, { recursive: true });
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    // Root in a container has no user namespaces for chromium's sandbox.
    args: ['--no-sandbox'],
  });
});

after(async () => {
  if (browser) await browser.close();
});

// A signed-in page: the token goes through the sign-in form, as a user's does.
async function signedIn(token, viewport = { width: 1280, height: 800 }) {
  // The controller's certificate is from its own CA, which this fresh
  // browser profile does not know (Node's fetch below verifies it).
  const context = await browser.newContext({ viewport, ignoreHTTPSErrors: true });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.errors = errors;
  await page.goto(base + '/');
  await page.locator('#token').fill(token);
  await page.locator('#signin-form button[type=submit]').click();
  await page.locator('h1', { hasText: 'Pipelines' }).waitFor({ timeout: DEADLINE });
  return page;
}

// The JSON API with a bearer token, for what the test sets up around a page.
async function api(method, path, body) {
  const res = await fetch(base + path, {
    method,
    headers: { Authorization: 'Bearer ' + adminToken, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await res.json();
  assert.ok(res.ok, method + ' ' + path + ': ' + res.status + ' ' + JSON.stringify(json));
  return json;
}

async function waitFor(what, fn) {
  const end = Date.now() + DEADLINE;
  for (;;) {
    const value = await fn();
    if (value) return value;
    if (Date.now() > end) assert.fail('timed out waiting for ' + what);
    await new Promise((r) => setTimeout(r, 100));
  }
}

// The stage's own state badge (its jobs' rows have badges too).
function stageBadge(page, stage, state) {
  return page.locator(`[data-stage="${stage}"] > div:first-child > .badge`, { hasText: state });
}

async function shot(page, name) {
  await page.screenshot({ path: join(shots, name + '.png'), fullPage: true });
}

test('the dashboard loads, lists the pipelines by group and the agents', async () => {
  const page = await signedIn(adminToken);
  await page.locator('#who', { hasText: 'admin' }).waitFor({ timeout: DEADLINE });
  for (const name of ['quick', 'console', 'deploy']) {
    await page.locator(`.pipeline[data-pipeline="${name}"]`).waitFor({ timeout: DEADLINE });
  }
  assert.deepEqual(await page.locator('main h2').allTextContents(), ['build', 'release']);
  await page.locator('nav a', { hasText: 'Agents' }).click();
  await page.locator('tr[data-agent="agent-0"] .badge').waitFor({ timeout: DEADLINE });
  assert.equal(await page.locator('tr[data-agent="agent-0"] .badge').textContent(), 'idle');
  await shot(page, 'agents');
  assert.deepEqual(page.errors, []);
});

test('a triggered run turns green live, without a reload', async () => {
  const page = await signedIn(adminToken);
  const card = page.locator('.pipeline[data-pipeline="quick"]');
  await card.waitFor({ timeout: DEADLINE });
  // A reload would drop this mark.
  await page.evaluate(() => { window.gantryTestMark = 'still here'; });
  const run = await api('POST', '/api/v1/pipelines/quick/trigger', {});
  await page.locator(`.pipeline[data-pipeline="quick"][data-state="passed"]`)
    .waitFor({ timeout: DEADLINE });
  assert.equal(await page.evaluate(() => window.gantryTestMark), 'still here');
  assert.match(await card.textContent(), new RegExp('#?' + Number(run.counter)));
  assert.equal(await card.locator('.bar span.state-passed').count(), 1);
  await shot(page, 'pipelines');
  assert.deepEqual(page.errors, []);
});

test('trigger from the page, and the console streams while the job runs', async () => {
  const page = await signedIn(adminToken);
  const card = page.locator('.pipeline[data-pipeline="console"]');
  await card.locator('button', { hasText: 'Trigger…' }).click();
  await card.locator('.vars input').first().fill('GREETING');
  await card.locator('.vars input').nth(1).fill('hello from the browser');
  await card.locator('button', { hasText: 'Run' }).click();
  // The page moves to the new run.
  await page.locator('h1', { hasText: 'console' }).waitFor({ timeout: DEADLINE });
  await stageBadge(page, 'print', 'building').waitFor({ timeout: DEADLINE });
  await page.locator('[data-stage="print"] button', { hasText: 'Console' }).click();
  const pre = page.locator('pre.console');
  await pre.filter({ hasText: 'hello from the browser' }).waitFor({ timeout: DEADLINE });
  // The task's header shows the command; its output is "second 2".
  assert.ok(!(await pre.textContent()).includes('second 2'));
  writeFileSync(releaseFile, 'go\n');
  await pre.filter({ hasText: 'second 2' }).waitFor({ timeout: DEADLINE });
  await page.locator('h1 .badge', { hasText: 'passed' }).waitFor({ timeout: DEADLINE });
  await shot(page, 'run');
  assert.deepEqual(page.errors, []);
});

test('approve is offered to who may approve, and absent for a viewer', async () => {
  const run = await api('POST', '/api/v1/pipelines/deploy/trigger', {});
  const path = '/ui/runs/deploy/' + Number(run.counter);
  await waitFor('the gate', async () => {
    const r = await api('GET', '/api/v1/pipelines/deploy/runs/' + Number(run.counter));
    return r.stages.find((s) => s.name === 'production').state === 'awaiting_approval';
  });

  const viewer = await signedIn(viewerToken);
  await viewer.goto(base + path);
  await stageBadge(viewer, 'production', 'awaiting approval').waitFor({ timeout: DEADLINE });
  assert.equal(await viewer.locator('[data-action="approve"]').count(), 0);
  assert.equal(await viewer.locator('[data-action="rerun"]').count(), 0);

  const admin = await signedIn(adminToken);
  await admin.goto(base + path);
  admin.on('dialog', (d) => d.accept('ship it'));
  await admin.locator('[data-stage="production"] [data-action="approve"]').click();
  await stageBadge(admin, 'production', 'passed').waitFor({ timeout: DEADLINE });
  assert.match(await admin.locator('[data-stage="production"]').textContent(),
    /approvals 1 of 1: admin \(ship it\)/);
  // The viewer's page follows live.
  await stageBadge(viewer, 'production', 'passed').waitFor({ timeout: DEADLINE });
  await shot(admin, 'approval');

  await admin.locator('.actions a', { hasText: 'Value stream' }).click();
  await admin.locator('.vsm .node.self').waitFor({ timeout: DEADLINE });
  assert.equal(await admin.locator('.vsm .node').count(), 2);  // quick -> deploy
  await shot(admin, 'value-stream');
  await admin.locator('nav a', { hasText: 'Environments' }).click();
  await admin.locator('[data-environment="production"]', { hasText: 'Deployed: deploy' })
    .waitFor({ timeout: DEADLINE });
  await shot(admin, 'environments');
  assert.deepEqual(viewer.errors, []);
  assert.deepEqual(admin.errors, []);
});

test('pause shows its reason, to the operator and to a viewer', async () => {
  const page = await signedIn(adminToken);
  const card = page.locator('.pipeline[data-pipeline="deploy"]');
  page.on('dialog', (d) => d.accept('release freeze until Friday'));
  await card.locator('button', { hasText: 'Pause' }).click();
  await card.locator('.paused').waitFor({ timeout: DEADLINE });
  assert.match(await card.locator('.note').first().textContent(),
    /Paused by admin: release freeze until Friday/);
  await card.locator('button', { hasText: 'Unpause' }).waitFor({ timeout: DEADLINE });

  const viewer = await signedIn(viewerToken, { width: 390, height: 844 });
  const seen = viewer.locator('.pipeline[data-pipeline="deploy"]');
  assert.match(await seen.locator('.note').first().textContent(), /release freeze until Friday/);
  assert.equal(await seen.locator('button').count(), 0);
  await shot(viewer, 'pipelines-phone');

  await card.locator('button', { hasText: 'Unpause' }).click();
  await card.locator('.paused').waitFor({ state: 'detached', timeout: DEADLINE });
  assert.deepEqual(page.errors, []);
});
