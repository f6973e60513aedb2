// The sender's walk through the console `/sent` in real headless Chromium, driven by
// tests/browser.rs: a wrong password is refused, the right one signs in, the list shows the
// message and why it went as a link, the message's page shows the recipient's delivery, its
// evidence and its active link, the recipient's Revoke button revokes it, and the recipient's
// link then opens only the "revoked" page.
//
// Environment: PORTAL (the portal's base URL), MESSAGE_ID, RECIPIENT (its address),
// CONSOLE_USER and CONSOLE_PASSWORD (the submission account), EVIDENCE (text the recipient's
// evidence line must contain), PORTAL_LINK (the recipient's link from the notice),
// SCREENSHOT_DIR, CHROMIUM (default /usr/bin/chromium). Screenshots are named `console-*.png`.
// Protocol on stdout: `DONE` at the end. Anything wrong: a message on stderr and a non-zero exit
// status. The browser's set-up and ending are in common.mjs.

import { fail, inChromium } from './common.mjs';

const NAME = 'console.mjs';
const LIMIT_MS = 100_000;

const env = {};
for (const k of ['PORTAL', 'MESSAGE_ID', 'RECIPIENT', 'CONSOLE_USER', 'CONSOLE_PASSWORD', 'EVIDENCE', 'PORTAL_LINK']) {
  env[k] = process.env[k];
  if (!env[k]) fail(NAME, `${k} must be set`);
}
const { PORTAL: portal, MESSAGE_ID: id, RECIPIENT: rcpt, PORTAL_LINK: link } = env;
const messagePath = `/sent/m/${id}`;

/// The text of the first element `selector` matches, trimmed, or "" without one.
async function text(page, selector) {
  return ((await page.textContent(selector, { timeout: 2_000 }).catch(() => null)) ?? '').trim();
}

/// Fails unless `haystack` contains each of `needles`.
function contains(where, haystack, ...needles) {
  for (const n of needles) {
    if (!haystack.includes(n)) throw new Error(`${where} lacks ${JSON.stringify(n)}: ${JSON.stringify(haystack)}`);
  }
}

/// Fills the sign-in form and sends it with `#sign-in`; the response the browser navigated to.
async function signIn(page, password) {
  await page.fill('input[name="user"]', env.CONSOLE_USER);
  await page.fill('input[name="password"]', password);
  const [response] = await Promise.all([page.waitForNavigation(), page.click('#sign-in')]);
  return response;
}

await inChromium({ name: NAME, prefix: 'console-', limitMs: LIMIT_MS }, async ({ page, shot, expectPage }) => {
  // Not signed in: the sign-in page.
  await expectPage(await page.goto(`${portal}/sent`), 'opening the console', '/sent');
  await page.waitForSelector('#sign-in');
  await shot('01-sign-in.png');

  // A wrong password: refused, and the form again.
  const refused = await signIn(page, `not ${env.CONSOLE_PASSWORD}`);
  await expectPage(refused, 'a wrong password', '/sent/login', 403);
  contains('the notice after a wrong password', await text(page, '#notice'), 'Wrong user name or password');
  await shot('02-wrong-password.png');

  // The right one, on the form the refusal showed (with its fresh form token).
  await expectPage(await signIn(page, env.CONSOLE_PASSWORD), 'signing in', '/sent');
  await page.waitForSelector('#messages');
  await shot('03-list.png');
  contains('#who', await text(page, '#who'), env.CONSOLE_USER);
  contains('#messages', await text(page, '#messages'), id);
  const row = page.locator('#messages tr', { hasText: id });
  const lines = await row.locator('td div').allTextContents();
  const line = lines.find((l) => l.startsWith(`${rcpt}: `));
  if (!line) throw new Error(`no line for ${rcpt} in the row of ${id}: ${JSON.stringify(lines)}`);
  contains(`the list's line for ${rcpt}`, line, 'link — ', 'offered no STARTTLS');

  // The message's page, through the list's own link.
  const [opened] = await Promise.all([page.waitForNavigation(), row.locator(`a[href="${messagePath}"]`).click()]);
  await expectPage(opened, 'opening the message', messagePath);
  const section = page.locator('section.recipient', { has: page.locator('h2', { hasText: rcpt }) });
  if ((await section.count()) !== 1) throw new Error(`${await section.count()} sections for ${rcpt}`);
  const variant = ((await section.locator('.variant').textContent()) ?? '').trim();
  contains('the variant line', variant, 'link — ', 'offered no STARTTLS');
  contains('the evidence line', ((await section.locator('.evidence').textContent()) ?? '').trim(), env.EVIDENCE);
  const before = ((await section.locator('.link').textContent()) ?? '').trim();
  if (!before.startsWith('link (otp): active')) throw new Error(`the link line before: ${JSON.stringify(before)}`);
  await shot('04-message.png');

  // Revoke: the form posts, the browser comes back to the message's page.
  const [revoked] = await Promise.all([page.waitForNavigation(), section.locator('.revoke').click()]);
  await expectPage(revoked, 'revoking the link', messagePath);
  const after = page.locator('section.recipient', { has: page.locator('h2', { hasText: rcpt }) }).locator('.link');
  const afterText = ((await after.textContent()) ?? '').trim();
  if (!afterText.startsWith('link (otp): revoked')) throw new Error(`the link line after: ${JSON.stringify(afterText)}`);
  await shot('05-revoked.png');

  // The recipient's link now opens only the page that says so.
  const gone = await page.goto(link);
  if (!gone || gone.status() !== 410) throw new Error(`the revoked link answered ${gone?.status()}`);
  contains('the revoked link', await text(page, '#notice'), 'revoked');
  await shot('06-link-revoked.png');
});
