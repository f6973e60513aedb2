// The classification page of an inbound message in real headless Chromium, driven by
// tests/browser.rs: open the link from the notice, see the encrypted archive as Unsupported,
// type a wrong password (refused, tries left shown), then the right one, see every entry with
// its class, and download the Safe entry through the page's own link.
//
// Environment: PORTAL_LINK (the link from the notice), SCREENSHOT_DIR, CHROMIUM (default
// /usr/bin/chromium), ARCHIVE (the archive's name), PASSWORD (the right one).
// Protocol on stdout, one line each: `DIFFERS <yes|no>`, `ENTRY <class> <name>` for each entry
// shown after unlocking, `FILENAME <name the browser suggests>`, `SHA256 <hex>`, `DONE`.

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

import { fail, inChromium, say } from './common.mjs';

const NAME = 'unlock.mjs';
const link = process.env.PORTAL_LINK;
const archive = process.env.ARCHIVE;
const password = process.env.PASSWORD;
if (!link || !archive || !password || !process.env.SCREENSHOT_DIR) {
  fail(NAME, 'PORTAL_LINK, ARCHIVE, PASSWORD and SCREENSHOT_DIR must be set');
}

const options = { name: NAME, prefix: 'unlock-', limitMs: 100_000, contextOptions: { acceptDownloads: true } };
await inChromium(options, async ({ page, shot, expectPage }) => {
  const row = (name) => page.locator('#files tr.file', { has: page.locator('.file-name', { hasText: name }) });

  await expectPage(await page.goto(link), 'opening the link', '/d');
  await shot('01-opened.png');
  say(`DIFFERS ${(await page.locator('#differs').count()) > 0 ? 'yes' : 'no'}`);
  const badge = await row(archive).locator('.badge').getAttribute('class');
  if (!badge.includes('unsupported')) throw new Error(`${archive} shows as ${badge}`);

  // A wrong password: refused, the page says so and how many tries are left.
  await row(archive).locator('input[name="password"]').fill('not-the-password');
  const [wrong] = await Promise.all([page.waitForNavigation(), row(archive).locator('button.open-archive').click()]);
  await expectPage(wrong, 'a wrong password', '/d/unlock/0', 403);
  const said = await page.textContent('#notice');
  if (!/wrong/i.test(said) || !/Tries left: \d/.test(said)) throw new Error(`after a wrong password: ${said}`);
  await shot('02-wrong.png');

  // The right one: back on the page, every entry classified.
  await row(archive).locator('input[name="password"]').fill(password);
  const [right] = await Promise.all([page.waitForNavigation(), row(archive).locator('button.open-archive').click()]);
  await expectPage(right, 'the right password', '/d');
  await shot('03-opened.png');
  const entries = await page.$$eval('#files tr.file.depth-1', (rows) =>
    rows.map((r) => [r.dataset.class, r.querySelector('.file-name').textContent]),
  );
  if (entries.length === 0) throw new Error('no entries shown after the right password');
  for (const [cls, name] of entries) say(`ENTRY ${cls} ${name}`);

  // The Safe entry, through the page's own link.
  const safe = page.locator('#files tr.file.depth-1[data-class="safe"] a.download').first();
  const [download] = await Promise.all([page.waitForEvent('download'), safe.click()]);
  const failure = await download.failure();
  if (failure) throw new Error(`download failed: ${failure}`);
  const bytes = readFileSync(await download.path());
  say(`FILENAME ${download.suggestedFilename()}`);
  say(`SHA256 ${createHash('sha256').update(bytes).digest('hex')}`);
  const danger = await page.locator('#files tr.file.depth-1[data-class="danger"] a').count();
  if (danger !== 0) throw new Error('a Danger entry has a link');
  await shot('04-downloaded.png');
});
