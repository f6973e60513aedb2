// The recipient's walk through the download portal in real headless Chromium, driven by
// tests/browser.rs: open the link from the notice, ask for the one-time code, type the code the
// test found at the fake MX, download the first file through the page's own link.
//
// Environment: PORTAL_LINK (the link from the notice), SCREENSHOT_DIR (where the screenshots
// go), CHROMIUM (default /usr/bin/chromium), HOSTILE_NAME (a file name that must show as text),
// ORIGINAL_OUT (optional: also download the whole message through the page's
// `#download-original` link and save it there; then `ORIGINAL <name the browser suggests>`).
// Protocol on stdout, one line each: `NEED_CODE` once the code was asked for (the code and a
// newline are then expected on stdin), `FILENAME <name the browser suggests>`,
// `SHA256 <hex of the downloaded file>`, `DONE` at the end. Anything wrong: a message on stderr
// and a non-zero exit status. The browser's set-up and ending are in common.mjs.

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';

import { fail, inChromium, say } from './common.mjs';

const NAME = 'walk.mjs';
const LIMIT_MS = 100_000;
const CODE_WAIT_MS = 60_000;

const link = process.env.PORTAL_LINK;
const hostile = process.env.HOSTILE_NAME;
if (!link || !process.env.SCREENSHOT_DIR || !hostile) {
  fail(NAME, 'PORTAL_LINK, SCREENSHOT_DIR and HOSTILE_NAME must be set');
}

const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
async function nextLine() {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error('no code on stdin in time')), CODE_WAIT_MS);
  });
  try {
    const { value, done } = await Promise.race([lines.next(), timeout]);
    if (done) throw new Error('stdin closed before the code came');
    return value.trim();
  } finally {
    clearTimeout(timer);
  }
}

const options = { name: NAME, limitMs: LIMIT_MS, contextOptions: { acceptDownloads: true } };
await inChromium(options, async ({ page, shot, expectPage }) => {
  const noSvg = async (where) => {
    const n = await page.evaluate(() => document.querySelectorAll('svg').length);
    if (n !== 0) throw new Error(`${where}: ${n} svg element(s) in the page: a file name became markup`);
  };

  // The link is swapped for a cookie and the browser sent on to /d.
  await expectPage(await page.goto(link), 'opening the link', '/d');
  await shot('01-opened.png');
  await noSvg('the page before the code');
  const listed = await page.textContent('#names');
  if (!listed.includes(hostile)) throw new Error(`#names does not show the file name as text: ${listed}`);

  // Ask for the code.
  const [asked] = await Promise.all([page.waitForNavigation(), page.click('#send-code')]);
  await expectPage(asked, 'asking for the code', '/d');
  const notice = (await page.textContent('#notice').catch(() => null)) ?? '';
  if (!notice) throw new Error('no notice that the code was sent');
  await shot('02-code-sent.png');
  say('NEED_CODE');
  const code = await nextLine();
  if (!/^[0-9]{6}$/.test(code)) throw new Error(`not a code: ${JSON.stringify(code)}`);

  // Type it in.
  await page.fill('input[name="secret"]', code);
  await shot('03-code-typed.png');
  const [opened] = await Promise.all([page.waitForNavigation(), page.click('#open')]);
  await expectPage(opened, 'proving the code', '/d');
  await page.waitForSelector('#files');
  await shot('04-files.png');
  await noSvg('the files page');
  const files = await page.textContent('#files');
  if (!files.includes(hostile)) throw new Error(`#files does not show the file name as text: ${files}`);
  const names = await page.$$eval('#files td.name', (cells) => cells.map((c) => c.textContent));
  if (!names.includes(hostile)) throw new Error(`no name cell reads exactly the file name: ${JSON.stringify(names)}`);
  const links = await page.$$eval('#files a.download', (as) => as.map((a) => a.getAttribute('href')));
  if (links.length < 2 || links[0] !== '/d/files/0') throw new Error(`download links: ${JSON.stringify(links)}`);
  if ((await page.getAttribute('#download-all', 'href')) !== '/d/all.zip') throw new Error('no #download-all link');

  // The first file, through the page's own link.
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#files a.download >> nth=0')]);
  const failure = await download.failure();
  if (failure) throw new Error(`download failed: ${failure}`);
  const bytes = readFileSync(await download.path());
  say(`FILENAME ${download.suggestedFilename()}`);
  say(`SHA256 ${createHash('sha256').update(bytes).digest('hex')}`);
  await shot('05-downloaded.png');
  await noSvg('the page after the download');

  if (process.env.ORIGINAL_OUT) {
    const [whole] = await Promise.all([page.waitForEvent('download'), page.click('#download-original')]);
    const failed = await whole.failure();
    if (failed) throw new Error(`the .eml download failed: ${failed}`);
    await whole.saveAs(process.env.ORIGINAL_OUT);
    say(`ORIGINAL ${whole.suggestedFilename()}`);
  }

  const xss = await page.evaluate(() => window.__xss);
  if (xss !== undefined) throw new Error(`window.__xss was set: ${JSON.stringify(xss)}`);
});
