// The recipient's walk through the download portal in real headless Chromium, driven by
// tests/browser.rs: open the link from the notice, ask for the one-time code, type the code the
// test found at the fake MX, download the first file through the page's own link.
//
// Environment: PORTAL_LINK (the link from the notice), SCREENSHOT_DIR (where the screenshots
// go), CHROMIUM (default /usr/bin/chromium), HOSTILE_NAME (a file name that must show as text).
// Protocol on stdout, one line each: `NEED_CODE` once the code was asked for (the code and a
// newline are then expected on stdin), `FILENAME <name the browser suggests>`,
// `SHA256 <hex of the downloaded file>`, `DONE` at the end. Anything wrong: a message on stderr
// and a non-zero exit status.

import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

const LIMIT_MS = 100_000;
const CODE_WAIT_MS = 60_000;

function fail(message) {
  process.stderr.write(`walk.mjs: ${message}\n`);
  process.exit(1);
}

const link = process.env.PORTAL_LINK;
const shots = process.env.SCREENSHOT_DIR;
const hostile = process.env.HOSTILE_NAME;
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
if (!link || !shots || !hostile) fail('PORTAL_LINK, SCREENSHOT_DIR and HOSTILE_NAME must be set');
if (!existsSync(executablePath)) {
  fail(`no Chromium at ${executablePath}: install Debian's chromium package (scripts/test does)`);
}
let chromium;
try {
  ({ chromium } = await import('playwright-core'));
} catch (e) {
  fail(`cannot load playwright-core (${e.message}): run \`npm ci --prefix tests/browser\` (scripts/test does)`);
}
mkdirSync(shots, { recursive: true });

// Never hang: past the limit the browser is left to die with this process.
const watchdog = setTimeout(() => fail(`gave up after ${LIMIT_MS / 1000} s`), LIMIT_MS);

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

function say(line) {
  process.stdout.write(`${line}\n`);
}

const browser = await chromium.launch({
  executablePath,
  args: [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
  ],
});
let status = 0;
let page;
try {
  const context = await browser.newContext({ acceptDownloads: true, locale: 'en-US' });
  page = await context.newPage();
  page.setDefaultTimeout(20_000);
  const dialogs = [];
  page.on('dialog', (d) => {
    dialogs.push(`${d.type()}: ${d.message()}`);
    d.dismiss().catch(() => {});
  });
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  page.on('console', (m) => process.stderr.write(`walk.mjs: console ${m.type()}: ${m.text()}\n`));
  // What the browser sent with each form, for the log when the portal refuses one.
  page.on('response', async (r) => {
    if (r.request().method() !== 'POST') {
      if (r.status() >= 400) process.stderr.write(`walk.mjs: ${r.request().method()} ${r.url()} -> ${r.status()}\n`);
      return;
    }
    const h = await r.request().allHeaders().catch(() => ({}));
    const origin = h.origin ?? '(none)';
    process.stderr.write(`walk.mjs: POST ${new URL(r.url()).pathname} -> ${r.status()}, Origin: ${origin}\n`);
  });
  const shot = async (name) => page.screenshot({ path: join(shots, name), fullPage: true });
  const noSvg = async (where) => {
    const n = await page.evaluate(() => document.querySelectorAll('svg').length);
    if (n !== 0) throw new Error(`${where}: ${n} svg element(s) in the page: a file name became markup`);
  };
  const expectPage = async (response, where, path) => {
    if (!response) throw new Error(`${where}: no response`);
    if (response.status() !== 200) {
      const text = await page.textContent('body').catch(() => '');
      throw new Error(`${where}: HTTP ${response.status()} at ${page.url()}: ${text.trim()}`);
    }
    if (new URL(page.url()).pathname !== path) throw new Error(`${where}: ended at ${page.url()}`);
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

  const xss = await page.evaluate(() => window.__xss);
  if (xss !== undefined) throw new Error(`window.__xss was set: ${JSON.stringify(xss)}`);
  if (dialogs.length) throw new Error(`dialogs appeared: ${dialogs.join('; ')}`);
  if (pageErrors.length) throw new Error(`errors in the page: ${pageErrors.join('; ')}`);
  await context.close();
  say('DONE');
} catch (e) {
  process.stderr.write(`walk.mjs: ${e.stack || e}\n`);
  status = 1;
  if (page) await page.screenshot({ path: join(shots, 'failure.png'), fullPage: true }).catch(() => {});
} finally {
  await browser.close().catch(() => {});
  clearTimeout(watchdog);
}
process.exit(status);
