// The send-a-file page in real headless Chromium, driven by tests/browser.rs: the sender signs
// in, follows the console's "Send files" link, fills To, Subject and the text, chooses a large
// file and sends it; the page's progress bar must reach 100 % and the answer show the queue
// ID. Then the recipient's link (from the notice the fake MX received, given on stdin) is
// opened and the file downloaded through the page's own link; its SHA-256 goes to stdout.
//
// Environment: PORTAL, CONSOLE_USER, CONSOLE_PASSWORD, UPLOAD (the file to send), RECIPIENT,
// SCREENSHOT_DIR, CHROMIUM (default /usr/bin/chromium). Screenshots are named `send-*.png`.
// Protocol on stdout: `UPLOADED` when the bar shows 100 %, `QUEUED <id>`, `NEED_LINK` (the
// test answers with the link on stdin), `SHA256 <hex>`, `DONE`.

import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { fail, inChromium, say } from './common.mjs';

const NAME = 'send.mjs';
const LIMIT_MS = 580_000;

const env = {};
for (const k of ['PORTAL', 'CONSOLE_USER', 'CONSOLE_PASSWORD', 'UPLOAD', 'RECIPIENT']) {
  env[k] = process.env[k];
  if (!env[k]) fail(NAME, `${k} must be set`);
}
const portal = env.PORTAL;
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();

function sha256Of(path) {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(path)
      .on('data', (d) => hash.update(d))
      .on('end', () => resolve(hash.digest('hex')))
      .on('error', reject);
  });
}

await inChromium({ name: NAME, prefix: 'send-', limitMs: LIMIT_MS }, async ({ page, shot, expectPage }) => {
  await expectPage(await page.goto(`${portal}/sent`), 'opening the console', '/sent');
  await page.fill('input[name="user"]', env.CONSOLE_USER);
  await page.fill('input[name="password"]', env.CONSOLE_PASSWORD);
  const [signedIn] = await Promise.all([page.waitForNavigation(), page.click('#sign-in')]);
  await expectPage(signedIn, 'signing in', '/sent');
  const [form] = await Promise.all([page.waitForNavigation(), page.click('#send-files')]);
  await expectPage(form, 'opening the send page', '/sent/send');

  await page.fill('#to', env.RECIPIENT);
  await page.fill('#subject', '大きなファイル');
  await page.fill('#text', 'The data set is attached.');
  await page.setInputFiles('#files', env.UPLOAD);
  await shot('01-form.png');
  await page.click('#send');

  // The bar while the browser sends, then the answer.
  let highest = 0;
  let uploaded = false;
  const deadline = Date.now() + LIMIT_MS - 60_000;
  let id = null;
  while (Date.now() < deadline) {
    const seen = await page
      .evaluate(() => ({
        value: document.getElementById('progress')?.value ?? null,
        id: document.getElementById('queue-id')?.textContent ?? null,
        refused: document.getElementById('refused')?.textContent ?? null,
        reply: document.getElementById('reply')?.textContent ?? null,
      }))
      .catch(() => ({}));
    if (typeof seen.value === 'number' && seen.value > highest) highest = seen.value;
    if (highest >= 100 && !uploaded) {
      uploaded = true;
      say('UPLOADED');
      await shot('02-uploaded.png').catch(() => {});
    }
    if (seen.refused) throw new Error(`refused: ${seen.refused} ${seen.reply}`);
    if (seen.id) {
      id = seen.id.trim();
      break;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  if (!id) throw new Error(`no answer; the bar reached ${highest} %`);
  if (!uploaded) throw new Error(`the bar reached ${highest} %, not 100 %`);
  say(`QUEUED ${id}`);
  await shot('03-queued.png');

  say('NEED_LINK');
  const link = (await lines.next()).value?.trim();
  if (!link) throw new Error('no link on stdin');
  await expectPage(await page.goto(link), 'opening the link', '/d');
  const [download] = await Promise.all([page.waitForEvent('download', { timeout: 300_000 }), page.click('#files a.download >> nth=0')]);
  const failure = await download.failure();
  if (failure) throw new Error(`download failed: ${failure}`);
  say(`SHA256 ${await sha256Of(await download.path())}`);
  await shot('04-downloaded.png');
});
