// Approval in the console `/sent`, in real headless Chromium, driven by tests/browser.rs: the
// sender signs in and sees the message "awaiting approval by" the approver; the approver signs
// in, finds it under "For your approval", opens the approval page (the message's recipients,
// Subject, text and attachments) and rejects it with a comment; the sender signs in again and
// sees the outcome: rejected by the approver, with the comment.
//
// Environment: PORTAL (the portal's base URL), MESSAGE_ID (the message awaiting approval),
// SENDER_USER, SENDER_PASSWORD, APPROVER_USER, APPROVER_PASSWORD (submission accounts),
// COMMENT (the rejection's comment), SCREENSHOT_DIR, CHROMIUM (default /usr/bin/chromium).
// Screenshots are named `approval-*.png`. Protocol on stdout: `DONE` at the end. Anything
// wrong: a message on stderr and a non-zero exit status.

import { fail, inChromium } from './common.mjs';

const NAME = 'approval.mjs';
const LIMIT_MS = 100_000;

const env = {};
for (const k of [
  'PORTAL', 'MESSAGE_ID', 'SENDER_USER', 'SENDER_PASSWORD', 'APPROVER_USER', 'APPROVER_PASSWORD', 'COMMENT',
]) {
  env[k] = process.env[k];
  if (!env[k]) fail(NAME, `${k} must be set`);
}
const { PORTAL: portal, MESSAGE_ID: id } = env;

await inChromium({ name: NAME, prefix: 'approval-', limitMs: LIMIT_MS }, async ({ page, shot, expectPage }) => {
  const signIn = async (user, password) => {
    await expectPage(await page.goto(`${portal}/sent`), 'opening the console', '/sent');
    await page.fill('input[name="user"]', user);
    await page.fill('input[name="password"]', password);
    const [signedIn] = await Promise.all([page.waitForNavigation(), page.click('#sign-in')]);
    await expectPage(signedIn, `signing in as ${user}`, '/sent');
  };
  const signOut = async () => {
    const [out] = await Promise.all([page.waitForNavigation(), page.click('#sign-out')]);
    await expectPage(out, 'signing out', '/sent');
  };
  const text = async (locator) => ((await locator.textContent()) ?? '').replace(/\s+/g, ' ').trim();

  // The sender: awaiting approval by the approver.
  await signIn(env.SENDER_USER, env.SENDER_PASSWORD);
  const awaiting = page.locator(`#awaiting tr.awaiting-by[data-id="${id}"]`);
  if ((await awaiting.count()) !== 1) throw new Error(`no "awaiting approval" row for ${id}: ${await page.content()}`);
  const by = await text(awaiting);
  if (by !== `Awaiting approval by ${env.APPROVER_USER}`) throw new Error(`the sender sees ${JSON.stringify(by)}`);
  await shot('01-awaiting.png');
  await signOut();

  // The approver: the message under "For your approval", its page, a rejection with a comment.
  await signIn(env.APPROVER_USER, env.APPROVER_PASSWORD);
  const row = page.locator(`#to-decide tr.to-decide[data-id="${id}"]`);
  if ((await row.count()) !== 1) throw new Error(`no row for ${id} to decide: ${await page.content()}`);
  await shot('02-to-decide.png');
  const [opened] = await Promise.all([page.waitForNavigation(), row.locator('a.decide').click()]);
  await expectPage(opened, 'opening the approval page', `/sent/approvals/${id}`);
  const subject = await text(page.locator('#subject'));
  if (subject !== 'the contract') throw new Error(`the approval page shows the Subject ${JSON.stringify(subject)}`);
  const files = await text(page.locator('#files'));
  if (!files.includes('contract.pdf')) throw new Error(`the approval page shows the files ${JSON.stringify(files)}`);
  const body = await text(page.locator('#text'));
  if (!body.includes('Signed copy attached.')) throw new Error(`the approval page shows the text ${JSON.stringify(body)}`);
  await page.fill('#comment', env.COMMENT);
  await shot('03-approval-page.png');
  const [rejected] = await Promise.all([page.waitForNavigation(), page.click('#reject')]);
  await expectPage(rejected, 'rejecting', `/sent/approvals/${id}`);
  const notice = ((await page.textContent('#notice', { timeout: 2_000 }).catch(() => null)) ?? '').trim();
  if (!notice.startsWith('Rejected: this message will never be delivered.')) {
    throw new Error(`the page after the rejection says ${JSON.stringify(notice)}`);
  }
  await shot('04-rejected.png');
  await expectPage(await page.goto(`${portal}/sent`), 'the approver\'s list again', '/sent');
  if ((await page.locator(`#to-decide tr[data-id="${id}"]`).count()) !== 0) throw new Error(`${id} is still to decide`);
  await signOut();

  // The sender again: the outcome, who rejected it and why.
  await signIn(env.SENDER_USER, env.SENDER_PASSWORD);
  if ((await page.locator(`#awaiting tr[data-id="${id}"]`).count()) !== 0) throw new Error(`${id} still awaits approval`);
  const outcome = await text(page.locator(`#messages tr.message[data-id="${id}"] .approval-outcome`));
  if (!outcome.startsWith(`Rejected by ${env.APPROVER_USER} (`) || !outcome.endsWith(`): ${env.COMMENT}`)) {
    throw new Error(`the sender sees the outcome ${JSON.stringify(outcome)}`);
  }
  await shot('05-outcome.png');
});
