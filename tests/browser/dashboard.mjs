// The administrator's dashboard in real headless Chromium, driven by tests/browser.rs: signed in
// to the console with the password, the console links to the dashboard; its 24-hour chart is an
// SVG the browser draws, with a bar segment per assurance level as expected (their counts and a
// drawn height for each); the recent delivery of MESSAGE_ID links to the message's page, which
// opens with its recipient.
//
// Environment: PORTAL (the portal's base URL), MESSAGE_ID, RECIPIENT (its recipient),
// CONSOLE_USER and CONSOLE_PASSWORD (an account in [portal] administrators), EXPECT (the
// recipients delivered per level, "authenticated=1 none=1"), SCREENSHOT_DIR, CHROMIUM (default
// /usr/bin/chromium). Screenshots are named `dashboard-*.png`. Protocol on stdout: `DONE` at the
// end. Anything wrong: a message on stderr and a non-zero exit status.

import { fail, inChromium } from './common.mjs';

const NAME = 'dashboard.mjs';
const LIMIT_MS = 100_000;

const env = {};
for (const k of ['PORTAL', 'MESSAGE_ID', 'RECIPIENT', 'CONSOLE_USER', 'CONSOLE_PASSWORD', 'EXPECT']) {
  env[k] = process.env[k];
  if (!env[k]) fail(NAME, `${k} must be set`);
}
const { PORTAL: portal, MESSAGE_ID: id } = env;
const expected = Object.fromEntries(env.EXPECT.split(' ').map((p) => p.split('=')).map(([l, n]) => [l, Number(n)]));

await inChromium({ name: NAME, prefix: 'dashboard-', limitMs: LIMIT_MS }, async ({ page, shot, expectPage }) => {
  await expectPage(await page.goto(`${portal}/sent`), 'opening the console', '/sent');
  await page.fill('input[name="user"]', env.CONSOLE_USER);
  await page.fill('input[name="password"]', env.CONSOLE_PASSWORD);
  const [signedIn] = await Promise.all([page.waitForNavigation(), page.click('#sign-in')]);
  await expectPage(signedIn, 'signing in', '/sent');

  const [opened] = await Promise.all([page.waitForNavigation(), page.click('#dashboard')]);
  await expectPage(opened, 'opening the dashboard', '/sent/dashboard');

  // The chart is drawn: the SVG has a size on the page, and each level's segments add up.
  const chart = page.locator('svg#chart-24h');
  const box = await chart.boundingBox();
  if (!box || box.width < 100 || box.height < 50) throw new Error(`the chart is not drawn: ${JSON.stringify(box)}`);
  const segments = await page.$$eval('svg#chart-24h rect.segment', (rects) =>
    rects.map((r) => ({ level: r.dataset.level, count: Number(r.dataset.count), drawn: r.getBoundingClientRect().height })),
  );
  const sums = {};
  for (const s of segments) {
    if (!(s.drawn > 0)) throw new Error(`a segment is not drawn: ${JSON.stringify(s)}`);
    sums[s.level] = (sums[s.level] ?? 0) + s.count;
  }
  if (JSON.stringify(Object.entries(sums).sort()) !== JSON.stringify(Object.entries(expected).sort())) {
    throw new Error(`the chart shows ${JSON.stringify(sums)}, expected ${JSON.stringify(expected)}`);
  }
  const legend = await page.locator('svg#chart-24h g.legend').count();
  if (legend !== 6) throw new Error(`the legend has ${legend} entries`);
  await shot('01-dashboard.png');

  // Drill down: the recent delivery's link opens the message's page.
  const trace = page.locator(`#recent tr.delivery[data-id="${id}"] a.trace`).first();
  if ((await trace.count()) !== 1) throw new Error(`no recent delivery of ${id}`);
  const [message] = await Promise.all([page.waitForNavigation(), trace.click()]);
  await expectPage(message, 'opening the trace', `/sent/m/${id}`);
  const heading = ((await page.textContent('section.recipient h2', { timeout: 2_000 }).catch(() => null)) ?? '').trim();
  if (heading !== env.RECIPIENT) throw new Error(`the message's page shows ${JSON.stringify(heading)}`);
  await shot('02-trace.png');
});
