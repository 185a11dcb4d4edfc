// Browser test of the API docs: Swagger UI's "Authorize" with the OAuth2 password flow,
// then "Try it out" on GET /api/v1/users/me → 200; and ReDoc rendering the operations.
// Any Content-Security-Policy violation fails the test (the pages must work under it).
//
// Needs a running server (BASE_URL) with an admin (ADMIN_EMAIL / ADMIN_PASSWORD) and
// Debian's chromium (CHROMIUM, default /usr/bin/chromium). Run: node --test tests/browser/
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';

const BASE_URL = process.env.BASE_URL ?? 'http://127.0.0.1:8000';
const ADMIN_EMAIL = process.env.ADMIN_EMAIL ?? 'admin@example.com';
const ADMIN_PASSWORD = process.env.ADMIN_PASSWORD ?? 'admin-password-1';

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
after(() => browser.close());

async function openPage(path) {
  const page = await browser.newPage();
  const violations = [];
  page.on('console', (msg) => {
    const text = msg.text();
    // A remote asset blocked by the policy is the policy working (and there is no
    // internet here); a same-origin script, style or fetch blocked would be a bug.
    const remoteBlocked =
      /Loading the (image|font) 'https:\/\//.test(text) ||
      // ReDoc's own telemetry to its vendor's servers.
      /(Connecting to|Fetch API cannot load) '?https:\/\//.test(text);
    if (/Content Security Policy|Refused to/i.test(text) && !remoteBlocked) violations.push(text);
  });
  page.on('pageerror', (err) => violations.push(`page error: ${err.message}`));
  const response = await page.goto(`${BASE_URL}${path}`, { waitUntil: 'load' });
  assert.equal(response.status(), 200, `${path} answers 200`);
  return { page, violations };
}

test('Swagger UI authorizes with the password flow and runs GET /users/me', async () => {
  const { page, violations } = await openPage('/docs');
  await page.locator('button.authorize').first().click();
  const dialog = page.locator('.dialog-ux');
  const oauth = dialog.locator('.auth-container').filter({ hasText: 'OAuth2, password' });
  await oauth.locator('#oauth_username').fill(ADMIN_EMAIL);
  await oauth.locator('#oauth_password').fill(ADMIN_PASSWORD);
  await oauth.locator('button.authorize').click();
  await oauth.locator('button', { hasText: 'Logout' }).waitFor({ timeout: 15000 });
  await dialog.locator('button.close-modal').click();

  const operation = page.locator('#operations-users-get_me');
  await operation.locator('.opblock-summary').click();
  await operation.getByRole('button', { name: 'Try it out' }).click();
  await operation.getByRole('button', { name: 'Execute' }).click();
  const status = operation.locator('.live-responses-table .response .response-col_status').first();
  await status.waitFor({ timeout: 15000 });
  assert.equal((await status.innerText()).trim(), '200');
  const body = await operation.locator('.live-responses-table .microlight').first().innerText();
  assert.match(body, new RegExp(ADMIN_EMAIL.replace('.', '\\.')));
  assert.deepEqual(violations, []);
});

test('ReDoc renders the operations from /openapi.json', async () => {
  const { page, violations } = await openPage('/redoc');
  // A tag lists its first operations; the rest behind "Show N more...".
  await page.getByText('/api/v1/auth/login', { exact: true }).first().waitFor({ state: 'attached', timeout: 20000 });
  const more = page.getByText(/^Show \d+ more/);
  for (let i = 0; i < 10 && (await more.count()) > 0; i++) {
    await more.first().click();
  }
  for (const operation of ['/api/v1/auth/login', '/api/v1/users/me', '/api/v1/tasks/{id}/complete']) {
    await page.getByText(operation, { exact: true }).first().waitFor({ state: 'attached', timeout: 20000 });
  }
  const deprecated = await page.getByText(/^deprecated$/i).count();
  assert.ok(deprecated >= 1, `compatibility routes are marked deprecated (saw ${deprecated})`);
  assert.deepEqual(violations, []);
});
