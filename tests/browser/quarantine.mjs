// An administrator's release of a quarantined message in real headless Chromium, driven by
// tests/browser.rs: signed in to the console with the password, the console links to the
// quarantine, the list shows the message, its page shows the file and why, Release shows a
// confirmation, and its button releases the message (the browser comes back to an empty list).
//
// Environment: PORTAL (the portal's base URL), MESSAGE_ID, CONSOLE_USER and CONSOLE_PASSWORD
// (an account in [portal] administrators), FILE (the held file's name), SCREENSHOT_DIR,
// CHROMIUM (default /usr/bin/chromium). Screenshots are named `quarantine-*.png`.
// Protocol on stdout: `DONE` at the end. Anything wrong: a message on stderr and a non-zero exit
// status.

import { fail, inChromium } from './common.mjs';

const NAME = 'quarantine.mjs';
const LIMIT_MS = 100_000;

const env = {};
for (const k of ['PORTAL', 'MESSAGE_ID', 'CONSOLE_USER', 'CONSOLE_PASSWORD', 'FILE']) {
  env[k] = process.env[k];
  if (!env[k]) fail(NAME, `${k} must be set`);
}
const { PORTAL: portal, MESSAGE_ID: id } = env;

async function text(page, selector) {
  return ((await page.textContent(selector, { timeout: 2_000 }).catch(() => null)) ?? '').trim();
}

function contains(where, haystack, ...needles) {
  for (const n of needles) {
    if (!haystack.includes(n)) throw new Error(`${where} lacks ${JSON.stringify(n)}: ${JSON.stringify(haystack)}`);
  }
}

await inChromium({ name: NAME, prefix: 'quarantine-', limitMs: LIMIT_MS }, async ({ page, shot, expectPage }) => {
  await expectPage(await page.goto(`${portal}/sent`), 'opening the console', '/sent');
  await page.fill('input[name="user"]', env.CONSOLE_USER);
  await page.fill('input[name="password"]', env.CONSOLE_PASSWORD);
  const [signedIn] = await Promise.all([page.waitForNavigation(), page.click('#sign-in')]);
  await expectPage(signedIn, 'signing in', '/sent');

  // The console's link to the quarantine, then the message's row and page.
  const [list] = await Promise.all([page.waitForNavigation(), page.click('#quarantine')]);
  await expectPage(list, 'opening the quarantine', '/sent/quarantine');
  contains('#held', await text(page, '#held'), id);
  await shot('01-list.png');
  const [opened] = await Promise.all([page.waitForNavigation(), page.click(`a[href="/sent/quarantine/${id}"]`)]);
  await expectPage(opened, 'opening the message', `/sent/quarantine/${id}`);
  contains('#files', await text(page, '#files'), env.FILE);
  await shot('02-message.png');

  // Release: a confirmation, then its button.
  const [confirm] = await Promise.all([page.waitForNavigation(), page.click('#release')]);
  await expectPage(confirm, 'asking to release', `/sent/quarantine/${id}/release`);
  contains('#notice', await text(page, '#notice'), 'Release this message', id);
  await shot('03-confirm.png');
  const [released] = await Promise.all([page.waitForNavigation(), page.click('#confirm')]);
  await expectPage(released, 'releasing', '/sent/quarantine');
  contains('#empty', await text(page, '#empty'), 'Nothing is in quarantine');
  await shot('04-released.png');
});
