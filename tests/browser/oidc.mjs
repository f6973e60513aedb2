// A sender's sign-in through the organisation's OpenID Provider in real headless Chromium,
// driven by tests/browser.rs: the console's sign-in page offers "Sign in with PROVIDER", the
// button leads to the provider's own sign-in form (oidc-provider-mock: the user's `sub` typed
// in), and the provider's redirect back ends in the console, signed in as the user's verified
// address, listing the message they sent.
//
// Environment: PORTAL (the portal's base URL), ISSUER (the provider's), SUB (the user at the
// provider), SENDER (their address), MESSAGE_ID, SCREENSHOT_DIR, CHROMIUM (default
// /usr/bin/chromium). Screenshots are named `oidc-*.png`. Protocol on stdout: `DONE` at the end.
// Anything wrong: a message on stderr and a non-zero exit status. The browser's set-up and
// ending are in common.mjs.

import { fail, inChromium } from './common.mjs';

const NAME = 'oidc.mjs';
const LIMIT_MS = 100_000;

const env = {};
for (const k of ['PORTAL', 'ISSUER', 'SUB', 'SENDER', 'MESSAGE_ID']) {
  env[k] = process.env[k];
  if (!env[k]) fail(NAME, `${k} must be set`);
}

await inChromium({ name: NAME, prefix: 'oidc-', limitMs: LIMIT_MS }, async ({ page, shot, expectPage }) => {
  await expectPage(await page.goto(`${env.PORTAL}/sent`), 'opening the console', '/sent');
  const button = (await page.textContent('#oidc-sign-in')).trim();
  if (button !== `Sign in with ${new URL(env.ISSUER).hostname}`) throw new Error(`the button says ${button}`);
  await shot('01-sign-in.png');

  // To the provider's own form.
  const [atProvider] = await Promise.all([page.waitForNavigation(), page.click('#oidc-sign-in')]);
  await expectPage(atProvider, 'the provider', '/oauth2/authorize');
  if (!page.url().startsWith(`${env.ISSUER}/`)) throw new Error(`not at the provider: ${page.url()}`);
  await page.fill('input[name="sub"]', env.SUB);
  await shot('02-provider.png');

  // Back through the callback, into the console.
  await Promise.all([page.waitForURL(`${env.PORTAL}/sent`), page.click('button[type="submit"]:not([name="action"])')]);
  const body = await page.textContent('body');
  for (const needle of [env.SENDER, env.MESSAGE_ID]) {
    if (!body.includes(needle)) throw new Error(`the console lacks ${needle}: ${body}`);
  }
  if (await page.$('#oidc-sign-in')) throw new Error('still on the sign-in page');
  await shot('03-signed-in.png');
});
