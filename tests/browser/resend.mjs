// The sender finds last month's quote in the console and sends its expired link again, in real
// headless Chromium, driven by tests/browser.rs: signs in with a password, types a file name
// into the search box (only the matching message is listed), opens the message, sees the link
// expired, presses "Re-send" and comes back to the page with an active link.
//
// Environment: PORTAL, MESSAGE_ID (the message searched for), OTHER_ID (a message that must not
// match), SEARCH (what to type), RECIPIENT, CONSOLE_USER, CONSOLE_PASSWORD, SCREENSHOT_DIR,
// CHROMIUM. Screenshots are named `resend-*.png`. Protocol on stdout: `DONE` at the end.

import { fail, inChromium } from './common.mjs';

const NAME = 'resend.mjs';
const LIMIT_MS = 100_000;

const env = {};
for (const k of ['PORTAL', 'MESSAGE_ID', 'OTHER_ID', 'SEARCH', 'RECIPIENT', 'CONSOLE_USER', 'CONSOLE_PASSWORD']) {
  env[k] = process.env[k];
  if (!env[k]) fail(NAME, `${k} must be set`);
}
const { PORTAL: portal, MESSAGE_ID: id, OTHER_ID: other, RECIPIENT: rcpt } = env;
const messagePath = `/sent/m/${id}`;

/// The link line of the recipient's section on the message page.
async function linkLine(page) {
  const section = page.locator('section.recipient', { has: page.locator('h2', { hasText: rcpt }) });
  return ((await section.locator('.link').textContent()) ?? '').trim();
}

await inChromium({ name: NAME, prefix: 'resend-', limitMs: LIMIT_MS }, async ({ page, shot, expectPage }) => {
  await expectPage(await page.goto(`${portal}/sent`), 'opening the console', '/sent');
  await page.fill('input[name="user"]', env.CONSOLE_USER);
  await page.fill('input[name="password"]', env.CONSOLE_PASSWORD);
  const [signedIn] = await Promise.all([page.waitForNavigation(), page.click('#sign-in')]);
  await expectPage(signedIn, 'signing in', '/sent');
  const before = (await page.locator('#messages tr.message').count());
  if (before < 2) throw new Error(`the list shows ${before} messages, expected both`);

  // The search box: only the message with that file is listed.
  await page.fill('#q', env.SEARCH);
  const [searched] = await Promise.all([page.waitForNavigation(), page.click('#search-button')]);
  await expectPage(searched, 'searching', '/sent');
  await shot('01-search.png');
  const ids = await page.locator('#messages tr.message').evaluateAll((rows) => rows.map((r) => r.dataset.id));
  if (ids.length !== 1 || ids[0] !== id) throw new Error(`the search listed ${JSON.stringify(ids)}, expected [${id}]`);
  if (ids.includes(other)) throw new Error('the other message matched');
  if ((await page.inputValue('#q')) !== env.SEARCH) throw new Error('the box lost what was typed');

  const row = page.locator('#messages tr', { hasText: id });
  const [opened] = await Promise.all([page.waitForNavigation(), row.locator(`a[href="${messagePath}"]`).click()]);
  await expectPage(opened, 'opening the message', messagePath);
  const expired = await linkLine(page);
  if (!expired.startsWith('link (otp): expired')) throw new Error(`the link line before: ${JSON.stringify(expired)}`);
  await shot('02-expired.png');

  const section = page.locator('section.recipient', { has: page.locator('h2', { hasText: rcpt }) });
  const [resent] = await Promise.all([page.waitForNavigation(), section.locator('.resend').click()]);
  await expectPage(resent, 'sending the link again', messagePath);
  const active = await linkLine(page);
  if (!active.startsWith('link (otp): active')) throw new Error(`the link line after: ${JSON.stringify(active)}`);
  await shot('03-sent-again.png');
});
