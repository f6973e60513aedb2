// The sender cancels a held message in the console `/sent`, in real headless Chromium, driven
// by tests/browser.rs: signed in with the submission account, the list of held messages shows
// the message with its "Cancel" button; the button's form posts, the page says the message
// will never be delivered, and the list no longer shows it as held.
//
// Environment: PORTAL (the portal's base URL), MESSAGE_ID (the held message), CONSOLE_USER and
// CONSOLE_PASSWORD (the submission account), SCREENSHOT_DIR, CHROMIUM (default
// /usr/bin/chromium). Screenshots are named `held-*.png`. Protocol on stdout: `DONE` at the
// end. Anything wrong: a message on stderr and a non-zero exit status.

import { fail, inChromium } from './common.mjs';

const NAME = 'held.mjs';
const LIMIT_MS = 100_000;

const env = {};
for (const k of ['PORTAL', 'MESSAGE_ID', 'CONSOLE_USER', 'CONSOLE_PASSWORD']) {
  env[k] = process.env[k];
  if (!env[k]) fail(NAME, `${k} must be set`);
}
const { PORTAL: portal, MESSAGE_ID: id } = env;

await inChromium({ name: NAME, prefix: 'held-', limitMs: LIMIT_MS }, async ({ page, shot, expectPage }) => {
  await expectPage(await page.goto(`${portal}/sent`), 'opening the console', '/sent');
  await page.fill('input[name="user"]', env.CONSOLE_USER);
  await page.fill('input[name="password"]', env.CONSOLE_PASSWORD);
  const [signedIn] = await Promise.all([page.waitForNavigation(), page.click('#sign-in')]);
  await expectPage(signedIn, 'signing in', '/sent');

  const row = page.locator(`#held tr.held[data-id="${id}"]`);
  if ((await row.count()) !== 1) throw new Error(`no held row for ${id}: ${await page.content()}`);
  const rowText = ((await row.textContent()) ?? '').trim();
  if (!rowText.includes('min left')) throw new Error(`the row shows no time left: ${JSON.stringify(rowText)}`);
  await shot('01-held.png');

  const [cancelled] = await Promise.all([page.waitForNavigation(), row.locator('button.cancel').click()]);
  await expectPage(cancelled, 'cancelling', `/sent/m/${id}/hold`);
  const notice = ((await page.textContent('#notice', { timeout: 2_000 }).catch(() => null)) ?? '').trim();
  if (!notice.includes('Cancelled: this message will never be delivered.')) {
    throw new Error(`the page after the cancel says ${JSON.stringify(notice)}`);
  }
  await shot('02-cancelled.png');

  await expectPage(await page.goto(`${portal}/sent`), 'the list again', '/sent');
  if ((await page.locator(`#held tr.held[data-id="${id}"]`).count()) !== 0) {
    throw new Error(`${id} is still listed as held`);
  }
  await shot('03-list.png');
});
