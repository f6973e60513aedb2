// What the browser walks of tests/browser.rs share (walk.mjs, console.mjs): headless Chromium
// started the same way, a page whose dialogs and script errors fail the walk, screenshots under
// one directory with the walk's own file-name prefix, a log on stderr of every form the browser
// posts and every refusal, and the ending: `DONE` on stdout and exit status 0, or the error on
// stderr, a `<prefix>failure.png` and exit status 1.
//
// Environment: SCREENSHOT_DIR (where the screenshots go), CHROMIUM (default /usr/bin/chromium).

import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';

/// Writes `message` on stderr under the script's `name` and exits with status 1.
export function fail(name, message) {
  process.stderr.write(`${name}: ${message}\n`);
  process.exit(1);
}

/// One line of the protocol on stdout.
export function say(line) {
  process.stdout.write(`${line}\n`);
}

/// Runs `walk` on a fresh page of headless Chromium and exits: 0 after `DONE` when it returned
/// with no dialog and no error in the page, else 1. `walk` gets the page and three helpers:
/// `shot(file)` (a full-page screenshot named `prefix + file`; it also fails the walk on any
/// dialog or page error so far), `expectPage(response, where, path, status = 200)` (the answer
/// to a navigation and where the browser ended) and `log(line)` (to stderr).
export async function inChromium({ name, prefix = '', limitMs, contextOptions = {} }, walk) {
  const shots = process.env.SCREENSHOT_DIR;
  const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
  if (!shots) fail(name, 'SCREENSHOT_DIR must be set');
  if (!existsSync(executablePath)) {
    fail(name, `no Chromium at ${executablePath}: install Debian's chromium package (scripts/test does)`);
  }
  let chromium;
  try {
    ({ chromium } = await import('playwright-core'));
  } catch (e) {
    fail(name, `cannot load playwright-core (${e.message}): run \`npm ci --prefix tests/browser\` (scripts/test does)`);
  }
  mkdirSync(shots, { recursive: true });
  const log = (line) => process.stderr.write(`${name}: ${line}\n`);

  // Never hang: past the limit the browser is left to die with this process.
  const watchdog = setTimeout(() => fail(name, `gave up after ${limitMs / 1000} s`), limitMs);

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
    const context = await browser.newContext({ locale: 'en-US', ...contextOptions });
    page = await context.newPage();
    page.setDefaultTimeout(20_000);
    const dialogs = [];
    page.on('dialog', (d) => {
      dialogs.push(`${d.type()}: ${d.message()}`);
      d.dismiss().catch(() => {});
    });
    const pageErrors = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    page.on('console', (m) => {
      const at = m.location()?.url;
      log(`console ${m.type()}: ${m.text()}${at ? ` (${at})` : ''}`);
    });
    // What the browser sent with each form (its Origin, the names of the cookies it sent), for
    // the log when the portal refuses one.
    page.on('response', async (r) => {
      const request = r.request();
      if (request.method() !== 'POST') {
        if (r.status() >= 400) log(`${request.method()} ${r.url()} -> ${r.status()}`);
        return;
      }
      const h = await request.allHeaders().catch(() => ({}));
      const origin = h.origin ?? '(none)';
      const cookies = (h.cookie ?? '').split(';').map((c) => c.split('=')[0].trim()).filter(Boolean);
      const sets = (await r.headerValue('set-cookie').catch(() => null)) ?? '';
      const set = sets.split('\n').map((c) => c.split('=')[0].trim()).filter(Boolean);
      log(
        `POST ${new URL(r.url()).pathname} -> ${r.status()}, Origin: ${origin}, ` +
          `Cookie: ${cookies.join(', ') || '(none)'}, Set-Cookie: ${set.join(', ') || '(none)'}`,
      );
    });
    const clean = () => {
      if (dialogs.length) throw new Error(`dialogs appeared: ${dialogs.join('; ')}`);
      if (pageErrors.length) throw new Error(`errors in the page: ${pageErrors.join('; ')}`);
    };
    // A loaded machine can make Chromium fail a capture now and then: a few tries, then give up.
    const shot = async (file) => {
      for (let tries = 1; ; tries++) {
        try {
          await page.screenshot({ path: join(shots, `${prefix}${file}`), fullPage: true });
          break;
        } catch (e) {
          if (tries >= 3) throw e;
          log(`screenshot ${file} failed (${e.message.split('\n')[0]}); trying again`);
          await new Promise((resolve) => setTimeout(resolve, 1000));
        }
      }
      clean();
    };
    const expectPage = async (response, where, path, expected = 200) => {
      if (!response) throw new Error(`${where}: no response`);
      if (response.status() !== expected) {
        const text = await page.textContent('body').catch(() => '');
        throw new Error(`${where}: HTTP ${response.status()} (not ${expected}) at ${page.url()}: ${text.trim()}`);
      }
      if (new URL(page.url()).pathname !== path) throw new Error(`${where}: ended at ${page.url()}`);
    };

    await walk({ page, shot, expectPage, log });
    clean();
    await context.close();
    say('DONE');
  } catch (e) {
    log(e.stack || e);
    status = 1;
    if (page) await page.screenshot({ path: join(shots, `${prefix}failure.png`), fullPage: true }).catch(() => {});
  } finally {
    await browser.close().catch(() => {});
    clearTimeout(watchdog);
  }
  process.exit(status);
}
