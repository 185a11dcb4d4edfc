// Browser test of live task events: a page reads GET /api/v1/tasks/events the way a web
// app with a bearer token must (EventSource cannot send headers): fetch with the
// Authorization header and a reader parsing the text/event-stream frames. It sees its
// own write arrive, then reconnects with Last-Event-ID and gets exactly what it missed.
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

test('a page follows task events with a bearer token and resumes with Last-Event-ID', async () => {
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (err) => errors.push(err.message));
  page.on('console', (msg) => {
    if (/Content Security Policy|Refused to/i.test(msg.text())) errors.push(msg.text());
  });
  // Any same-origin page will do: the script below runs with the API's origin.
  await page.goto(`${BASE_URL}/docs`, { waitUntil: 'load' });
  const outcome = await page.evaluate(async ({ email, password }) => {
    const api = '/api/v1';
    const login = await fetch(`${api}/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email, password }),
    });
    const { access_token: token } = await login.json();
    const auth = { authorization: `Bearer ${token}` };

    // An EventSource-style reader: frames split on blank lines, fields by name.
    async function follow(lastEventId, wanted) {
      const controller = new AbortController();
      const headers = { ...auth, accept: 'text/event-stream' };
      if (lastEventId) headers['last-event-id'] = lastEventId;
      const res = await fetch(`${api}/tasks/events`, { headers, signal: controller.signal });
      if (res.status !== 200) return { status: res.status, events: [] };
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      const events = [];
      let buffer = '';
      const opened = { status: res.status, events, contentType: res.headers.get('content-type') };
      const done = (async () => {
        while (events.length < wanted) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value;
          let end;
          while ((end = buffer.indexOf('\n\n')) >= 0) {
            const frame = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            const event = {};
            for (const line of frame.split('\n')) {
              if (line.startsWith(':')) continue;
              const i = line.indexOf(': ');
              if (i > 0) event[line.slice(0, i)] = line.slice(i + 2);
            }
            if (event.event) events.push({ ...event, data: JSON.parse(event.data) });
          }
        }
        controller.abort();
      })();
      return { opened, done };
    }

    const create = (title) => fetch(`${api}/tasks`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ title }),
    }).then((r) => r.json());

    const live = await follow(null, 1);
    const first = await create('seen live from the browser');
    await Promise.race([live.done, new Promise((r) => setTimeout(r, 10000))]);
    const [event] = live.opened.events;

    // Missed while away: two writes, then a reconnect from the last event received.
    const second = await create('missed while away 1');
    const third = await create('missed while away 2');
    const resumed = await follow(event?.id, 2);
    await Promise.race([resumed.done, new Promise((r) => setTimeout(r, 10000))]);
    return {
      status: live.opened.status,
      contentType: live.opened.contentType,
      event,
      firstId: first.id,
      resumed: resumed.opened.events.map((e) => [e.event, e.data.id]),
      missed: [second.id, third.id],
    };
  }, { email: ADMIN_EMAIL, password: ADMIN_PASSWORD });

  assert.equal(outcome.status, 200);
  assert.match(outcome.contentType, /^text\/event-stream/);
  assert.ok(outcome.event, 'an event arrived');
  assert.equal(outcome.event.event, 'task.created');
  assert.equal(outcome.event.data.id, outcome.firstId);
  assert.equal(outcome.event.data.title, 'seen live from the browser');
  assert.deepEqual(outcome.resumed, outcome.missed.map((id) => ['task.created', id]));
  assert.deepEqual(errors, []);
});
