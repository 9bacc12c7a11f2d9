import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testNamespace } from '@stepgate/test';
import { password, startControlPlaneStack, type ControlPlaneStack, type Person } from './stack.js';

/**
 * The approval portal in a real browser: Debian's Chromium (never a downloaded one) driven by
 * playwright-core, against the real pipeline, the embedded OpenID Connect provider and the control plane.
 */
const CHROMIUM = process.env.STEPGATE_CHROMIUM ?? '/usr/bin/chromium';
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const ns = testNamespace('portal');
let stack: ControlPlaneStack;
let browser: Browser;
/** Where the screenshot goes unless STEPGATE_UPDATE_SCREENSHOT asks for docs/portal.png. */
let profile: string;

beforeAll(async () => {
  stack = await startControlPlaneStack(ns);
  profile = await mkdtemp(path.join(tmpdir(), 'stepgate-chromium-'));
  // launch() gives Chromium a fresh --user-data-dir of its own (a temporary profile) every time.
  browser = await chromium.launch({
    executablePath: CHROMIUM,
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
});

afterAll(async () => {
  await browser?.close();
  await stack?.stop();
  await ns.cleanup();
  if (profile) await rm(profile, { recursive: true, force: true });
});

/** Clicks Approve or Reject; the page comes back with the outcome (an error would be shown as an alert). */
async function decide(page: Page, button: 'Approve' | 'Reject'): Promise<void> {
  await page.getByRole('button', { name: button }).click();
  await page.waitForURL(/done=|\/decide$/);
  const alert = page.getByRole('alert');
  expect(await alert.count(), (await alert.count()) ? ((await alert.first().textContent()) ?? '') : '').toBe(0);
}

/** A fresh browser context signed in as `who` at the embedded provider, on `target` of the portal. */
async function signIn(who: Person, target: string): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ viewport: { width: 1100, height: 900 } });
  const page = await context.newPage();
  await page.goto(`${stack.portal}${target}`);
  await expect.poll(() => page.url()).toContain(`${stack.provider.issuer}/interaction/`);
  await page.getByLabel('User name').fill(who);
  await page.getByLabel('Password').fill(password(who));
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(`${stack.portal}${target}`);
  return { context, page };
}

describe('the approval portal in Chromium', () => {
  it('bob signs in, sees the approval a real gate created, approves with a comment: the GateClient resolves allow', async () => {
    const { id, step, outcome } = await stack.pendingDeploy();
    const { context, page } = await signIn('bob', `/approvals/${id}`);

    await expect.poll(() => page.getByRole('heading', { level: 1 }).textContent()).toContain('deploy');
    const details = await page.locator('dl').textContent();
    expect(details).toContain(step.workflow_id);
    expect(details).toContain('approve-production-deploys');
    expect(details).toContain('Production deploys need a human');
    // Quorum progress, from the workflow's status query.
    expect(await page.locator('dd.quorum').innerText()).toBe('0 of 1');
    // The request's inputs are shown as text, never as markup.
    expect(await page.locator('script').count()).toBe(0);
    await page.screenshot({
      path: process.env.STEPGATE_UPDATE_SCREENSHOT
        ? path.join(ROOT, 'docs/portal.png')
        : path.join(profile, 'portal.png'),
      fullPage: true,
    });

    // The list shows it too, among the pending ones.
    const list = await context.newPage();
    await list.goto(`${stack.portal}/approvals`);
    expect(await list.getByRole('link', { name: 'deploy' }).count()).toBeGreaterThan(0);

    // The comment is required: the browser refuses the form without one (keyboard use, no JavaScript).
    await page.getByLabel(/Comment/).focus();
    await page.keyboard.type('Release plan reviewed; go ahead');
    await decide(page, 'Approve');
    expect(await page.getByRole('status').textContent()).toContain('You approved this step');
    expect(await page.locator('dd.quorum').innerText()).toMatch(/^1 of 1: bob at /);

    const d = await outcome;
    expect(d).toMatchObject({ decision: 'allow', approval_status: 'approved', decision_source: 'approval' });
    const state = await stack.approvers.status(id);
    expect(state.evidence?.statement.attested_user).toMatchObject({
      issuer: stack.provider.issuer,
      subject: 'bob',
      principal: 'bob',
      roles: ['approver'],
    });
    await context.close();
  });

  it('bob rejects with a reason: the gate is blocked and the workflow aborted', async () => {
    const { id, step, outcome } = await stack.pendingDeploy();
    const { context, page } = await signIn('bob', `/approvals/${id}`);
    await page.getByLabel(/Comment/).fill('Not during the change freeze');
    await decide(page, 'Reject');
    expect(await outcome).toMatchObject({ decision: 'block', approval_status: 'rejected' });
    const later = await stack.gate.gate({ ...step, step_id: 'smoke-test', step_name: 'smoke' });
    expect(later).toMatchObject({ decision: 'block', error: { code: 'WORKFLOW_TERMINAL' } });
    await context.close();
  });

  it('carol, of another tenant, cannot see it: 404, and it is not in her list', async () => {
    const { id } = await stack.pendingDeploy();
    const { context, page } = await signIn('carol', '/approvals');
    expect(await page.locator(`a[href="/approvals/${id}"]`).count()).toBe(0);
    const response = await page.goto(`${stack.portal}/approvals/${id}`);
    expect(response?.status()).toBe(404);
    await context.close();
  });

  it('mallory, of the tenant but holding no role, is refused the approval pages (403), as the API refuses her', async () => {
    const { id } = await stack.pendingDeploy();
    const { context, page } = await signIn('mallory', '/approvals');
    expect((await page.goto(`${stack.portal}/approvals`))?.status()).toBe(403);
    expect((await page.goto(`${stack.portal}/approvals/${id}`))?.status()).toBe(403);
    expect(await page.content()).not.toContain('Production deploys need a human');
    await context.close();
  });

  it('a decision posted with no form at all is answered 400 (choose approve or reject), not 500', async () => {
    const { id } = await stack.pendingDeploy();
    const { context, page } = await signIn('bob', `/approvals/${id}`);
    const token = await page.locator('input[name="_csrf"]').first().inputValue();
    for (const extra of [
      {},
      { data: 'null', headers: { 'x-csrf-token': token, 'content-type': 'application/json' } },
    ]) {
      const answer = await context.request.post(`${stack.portal}/approvals/${id}/decide`, {
        headers: { 'x-csrf-token': token },
        maxRedirects: 0,
        ...extra,
      });
      expect(answer.status()).toBe(400);
    }
    expect((await stack.approvers.status(id)).status).toBe('pending');
    await context.close();
  });

  it('a decide form whose comment Postgres could not store is refused 400 INVALID_INPUT once bob is known; without a session, sign in first', async () => {
    const { id } = await stack.pendingDeploy();
    const { context, page } = await signIn('bob', `/approvals/${id}`);
    const token = await page.locator('input[name="_csrf"]').first().inputValue();
    const form = { _csrf: token, decision: 'approve', comment: 'Reviewed the plan \u0000 go' };
    const refused = await context.request.post(`${stack.portal}/approvals/${id}/decide`, {
      form,
      headers: { accept: 'application/json' },
      maxRedirects: 0,
    });
    expect(refused.status()).toBe(400);
    expect(await refused.json()).toMatchObject({
      error: { code: 'INVALID_INPUT', fields: [{ field: 'body.comment' }] },
    });
    const anonymous = await fetch(`${stack.portal}/approvals/${id}/decide`, {
      method: 'POST',
      body: new URLSearchParams(form),
      redirect: 'manual',
    });
    expect([anonymous.status, anonymous.headers.get('location')]).toEqual([
      303,
      `/login?return_to=${encodeURIComponent(`/approvals/${id}/decide`)}`,
    ]);
    expect((await stack.approvers.status(id)).status).toBe('pending');
    await context.close();
  });

  it('a forged form post without the CSRF token is refused; the approval stays pending', async () => {
    const { id } = await stack.pendingDeploy();
    const { context } = await signIn('bob', `/approvals/${id}`);
    // The session cookie rides along (as it would from another site's form); the token does not.
    const forged = await context.request.post(`${stack.portal}/approvals/${id}/decide`, {
      form: { decision: 'approve', comment: 'Approved by a forged form' },
      headers: { accept: 'application/json' },
      maxRedirects: 0,
    });
    expect(forged.status()).toBe(403);
    expect(await forged.json()).toMatchObject({ error: { code: 'CSRF_REFUSED' } });
    const wrongToken = await context.request.post(`${stack.portal}/approvals/${id}/decide`, {
      form: { _csrf: 'x'.repeat(43), decision: 'approve', comment: 'Approved by a forged form' },
      headers: { accept: 'application/json' },
      maxRedirects: 0,
    });
    expect(wrongToken.status()).toBe(403);
    expect((await stack.approvers.status(id)).status).toBe('pending');
    await context.close();
  });
});
