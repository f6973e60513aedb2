// The findings about the sender on the classification page of an inbound message, in real
// headless Chromium, driven by tests/browser.rs: open the link from the notice and read what
// the page says about who sent the message, each finding with its kind and evidence; a display
// name written as markup must show as text (no dialog, no element made from it).
//
// Environment: PORTAL_LINK (the link from the notice), SCREENSHOT_DIR, CHROMIUM (default
// /usr/bin/chromium).
// Protocol on stdout, one line each: `HEADING <text>`, `FINDING <kind> <sentence (evidence)>`
// for each finding shown, `INJECTED <count of elements made from the display name>`, `DONE`.

import { fail, inChromium, say } from './common.mjs';

const NAME = 'findings.mjs';
const link = process.env.PORTAL_LINK;
if (!link || !process.env.SCREENSHOT_DIR) fail(NAME, 'PORTAL_LINK and SCREENSHOT_DIR must be set');

await inChromium({ name: NAME, prefix: 'findings-', limitMs: 60_000 }, async ({ page, shot, expectPage }) => {
  await expectPage(await page.goto(link), 'opening the link', '/d');
  await shot('01-opened.png');
  const section = page.locator('#sender-findings');
  if ((await section.count()) !== 1) throw new Error('no findings about the sender on the page');
  say(`HEADING ${(await section.locator('h2').textContent()).trim()}`);
  const findings = await section.locator('li.finding').evaluateAll((items) =>
    items.map((li) => [li.dataset.kind, li.textContent.replace(/\s+/g, ' ').trim()]),
  );
  for (const [kind, text] of findings) say(`FINDING ${kind} ${text}`);
  say(`INJECTED ${await page.locator('#sender-findings img, #sender-findings b').count()}`);
  await shot('02-findings.png');
});
