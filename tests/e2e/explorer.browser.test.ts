/**
 * The saga explorer in a real browser (Debian's chromium through playwright-core; never a
 * downloaded one), served by a tiny Fastify app with the gateway's CSP, in front of the whole
 * system. A payment stall holds a checkout in authorizingPayment while the page is open, so the
 * test sees the highlighted state, then sees it move to confirmed without a reload. Then it travels
 * back through the journal, sees the path drawn on the chart (zoomed and panned), finds the
 * checkout by its short order number, cart and customer id, filters the list, and opens a participant. Any script error or CSP
 * violation fails the test. Screenshots go to test-results/screenshots/.
 *
 * Without chromium the suite fails with how to install it (tests/support/browser.ts), never skips.
 */
import helmet from '@fastify/helmet';
import Fastify, { type FastifyInstance } from 'fastify';
import { randomUUID } from 'node:crypto';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { productIdFor } from '../../src/actors/seed/seed.ts';
import { explorerPlugin } from '../../src/devtools/explorer/plugin.ts';
import { Bucket } from '../../src/contracts/subjects.ts';
import { checkoutIdsFor } from '../../src/runtime/ids.ts';
import { orderNumberOf } from '../../src/contracts/order-number.ts';
import { startTestSystem, type TestSystem } from '../support/system-fixture.ts';
import { launchChromium, screenshotPath } from '../support/browser.ts';

const BIRDSEED = productIdFor('ACME-BIRDSEED');
const SLOWPOKE = randomUUID();


describe('saga explorer in a real browser', { timeout: 60_000 }, () => {
  let t: TestSystem;
  let app: FastifyInstance;
  let url: string;
  let browser: Browser;
  let stalled: { checkoutId: string; orderId: string; cartId: string };

  beforeAll(async () => {
    browser = await launchChromium();
    t = await startTestSystem('embedded', (c) => {
      c.payment = { ...c.payment, stallCustomers: [SLOWPOKE], stallMs: 4_000 };
      c.checkout.deadlines = { ...c.checkout.deadlines, authorizePaymentMs: 15_000 };
    });
    app = Fastify();
    // The gateway's policy: a page that needed an inline script or a remote asset would break here.
    await app.register(helmet, {
      contentSecurityPolicy: {
        directives: {
          'default-src': ["'self'"], 'script-src': ["'self'"], 'style-src': ["'self'", "'unsafe-inline'"],
          'img-src': ["'self'", 'data:'], 'connect-src': ["'self'"], 'upgrade-insecure-requests': null,
        },
      },
    });
    await app.register(explorerPlugin, { transport: await t.system.transportFor('gateway'), pollMs: 200 });
    url = await app.listen({ port: 0, host: '127.0.0.1' });
  });

  afterAll(async () => {
    await browser?.close();
    await app?.close();
    await t?.stop();
  });

  async function open(pathname: string): Promise<{ page: Page; errors: string[] }> {
    const context = await browser.newContext({ viewport: { width: 1440, height: 1000 } });
    context.setDefaultTimeout(10_000);
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    // Offline means offline: any request leaving this origin fails the test.
    await page.route('**/*', (route) => (route.request().url().startsWith(url) ? route.continue() : (errors.push(`external request ${route.request().url()}`), route.abort())));
    await page.goto(`${url}${pathname}`);
    return { page, errors };
  }

  const shot = (page: Page, name: string) => page.screenshot({ path: screenshotPath(`${name}.png`), fullPage: true });
  const active = (page: Page, stateId: string) => page.locator(`[data-state-id="${stateId}"].sc-active`);

  it('opens on recent checkouts, and says what to do when there are none', async () => {
    const { page, errors } = await open('/explorer');
    await expect.poll(async () => page.getByTestId('empty').textContent()).toContain('No checkouts yet. Check out a cart in the shop');
    expect(await page.locator('#scope-filter').inputValue()).toBe('all');
    expect(errors).toEqual([]);
  });

  it('highlights the state of a running checkout, and moves the highlight as the saga moves', async () => {
    // Ids derive from the cart, so the page can be open, waiting, before the checkout starts.
    const cartId = randomUUID();
    stalled = { ...checkoutIdsFor(cartId), cartId };
    const { page, errors } = await open(`/explorer/checkouts/${stalled.checkoutId}`);
    await page.locator('#live[data-state="live"]').waitFor();
    await t.shopper.addItem(cartId, BIRDSEED, 1);
    await t.shopper.checkout(cartId, SLOWPOKE);
    await active(page, 'checkout.authorizingPayment').waitFor();
    expect(await page.locator('.sc-active').count()).toBe(1);
    expect(await page.getByTestId('current-state').textContent()).toBe('authorizingPayment');
    expect(await page.getByTestId('timers').textContent()).toContain('authorizePayment');
    expect(await page.getByTestId('outbox').textContent()).toContain('authorize-payment');
    await shot(page, 'explorer-checkout-authorizing');

    await active(page, 'checkout.confirmed').waitFor({ timeout: 15_000 });
    expect(await active(page, 'checkout.authorizingPayment').count()).toBe(0);
    expect(await page.locator('[data-edge-id="checkout.creatingOrder->checkout.confirmed"].sc-taken').count()).toBe(1);
    expect(await page.getByTestId('journal').locator('tbody tr').count()).toBe(4);
    await shot(page, 'explorer-checkout-confirmed');
    expect(errors).toEqual([]);
  }, 30_000);

  it('travels back and forth through the journal, showing the state at each step', async () => {
    const { page, errors } = await open(`/explorer/checkouts/${stalled.checkoutId}`);
    await active(page, 'checkout.confirmed').waitFor();
    await page.keyboard.press('Home'); // ignored: only the arrows and buttons travel
    for (let i = 0; i < 4; i++) await page.getByTestId('step-back').click();
    await active(page, 'checkout.idle').waitFor();
    expect(await page.getByTestId('step-label').textContent()).toContain('step 0 of 4');
    await page.getByTestId('step-forward').click();
    await active(page, 'checkout.reservingInventory').waitFor();
    await page.keyboard.press('ArrowRight');
    await active(page, 'checkout.authorizingPayment').waitFor();
    expect(await page.locator('.journal tr.selected td').first().textContent()).toBe('2');
    await shot(page, 'explorer-time-travel');
    await page.getByTestId('follow-live').click();
    await active(page, 'checkout.confirmed').waitFor();
    expect(errors).toEqual([]);
  });

  it('draws the path the saga took on its statechart, each transition numbered by its step, and zooms and pans', async () => {
    const { page, errors } = await open(`/explorer/checkouts/${stalled.checkoutId}`);
    await active(page, 'checkout.confirmed').waitFor();
    const taken = [
      'checkout.idle->checkout.reservingInventory',
      'checkout.reservingInventory->checkout.authorizingPayment',
      'checkout.authorizingPayment->checkout.creatingOrder',
      'checkout.creatingOrder->checkout.confirmed',
    ];
    for (const [i, edge] of taken.entries()) {
      expect(await page.locator(`[data-edge-id="${edge}"].sc-on-path`).count(), edge).toBe(1);
      const mark = page.locator(`.sc-step[data-edge-id="${edge}"]`);
      expect(await mark.getAttribute('data-steps')).toBe(String(i + 1));
      expect(await mark.locator('title').textContent()).toMatch(new RegExp(`^#${i + 1} \\d\\d:\\d\\d:\\d\\d\\.\\d{3} `));
    }
    expect(await page.locator('.sc-on-path').count()).toBe(4);
    expect(await page.locator('.sc-visited').count()).toBeGreaterThanOrEqual(5);
    const path = page.getByTestId('path').locator('li');
    expect(await path.count()).toBe(4);
    expect(await path.nth(0).textContent()).toMatch(/^\d\d:\d\d:\d\d\.\d{3} checkout\.started idle → reservingInventory$/);
    expect(await path.nth(3).textContent()).toContain('order.created creatingOrder → confirmed');
    // Back two steps: the path drawn is the path up to there.
    await page.getByTestId('step-back').click();
    await page.getByTestId('step-back').click();
    await expect.poll(async () => page.locator('.sc-on-path').count()).toBe(2);
    expect(await page.locator('ol.path li.later').count()).toBe(2);
    // Zoom in on the chart, pan it, and fit it again.
    const chart = page.getByTestId('chart');
    expect(await chart.getAttribute('data-zoom')).toBe('1.00');
    await page.getByTestId('zoom-in').click();
    await page.getByTestId('zoom-in').click();
    expect(Number(await chart.getAttribute('data-zoom'))).toBeGreaterThan(2);
    const before = await page.locator('svg.statechart').getAttribute('viewBox');
    const box = (await page.locator('svg.statechart').boundingBox())!;
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width / 2 - 120, box.y + box.height / 2 - 40, { steps: 4 });
    await page.mouse.up();
    expect(await page.locator('svg.statechart').getAttribute('viewBox')).not.toBe(before);
    await shot(page, 'explorer-path-zoomed');
    await page.getByTestId('zoom-fit').click();
    expect(await chart.getAttribute('data-zoom')).toBe('1.00');
    await shot(page, 'explorer-path');
    expect(errors).toEqual([]);
  });

  it('finds a checkout by its short order number, as the shopper reads it, and by cart and customer id', async () => {
    const number = orderNumberOf(stalled.orderId);
    const { page, errors } = await open('/explorer');
    await page.locator(`tr[data-checkout-id="${stalled.checkoutId}"]`).waitFor();
    // Typed as a person might: lower case, without the shop's prefix.
    await page.locator('#search').fill(number.replace(/^ACME-/, '').toLowerCase());
    await page.locator('#search').press('Enter');
    await expect.poll(async () => page.locator('tbody tr').count()).toBe(1);
    expect(await page.locator(`tr[data-checkout-id="${stalled.checkoutId}"] td.order-number`).textContent()).toBe(number);
    expect(page.url()).toContain('q=');
    await shot(page, 'explorer-search-order-number');
    for (const q of [stalled.cartId, SLOWPOKE, stalled.orderId, stalled.checkoutId]) {
      await page.locator('#search').fill(q);
      await page.locator('#search').press('Enter');
      await expect.poll(async () => page.locator('tbody tr').getAttribute('data-checkout-id')).toBe(stalled.checkoutId);
      expect(await page.locator('tbody tr').count(), q).toBe(1);
    }
    await page.locator('#search').fill('ACME-ZZZZ-ZZZZ');
    await page.locator('#search').press('Enter');
    await expect.poll(async () => page.getByTestId('empty').textContent()).toContain('No checkout matches “ACME-ZZZZ-ZZZZ”');
    await page.locator(`#search`).fill(number);
    await page.locator('#search').press('Enter');
    await page.locator(`tr[data-checkout-id="${stalled.checkoutId}"] a`).click();
    await active(page, 'checkout.confirmed').waitFor();
    expect(await page.getByTestId('order-number').textContent()).toBe(`order ${number}`);
    expect(errors).toEqual([]);
  });

  it('lists checkouts and filters them by state', async () => {
    const other = await t.shopper.buy(randomUUID(), [[BIRDSEED, 1]]);
    await t.shopper.settle(other.checkoutId);
    const { page, errors } = await open('/explorer?all=1');
    await page.locator(`tr[data-checkout-id="${stalled.checkoutId}"]`).waitFor();
    await page.locator('#state-filter').selectOption('confirmed');
    await expect.poll(async () => page.locator('tbody tr').count()).toBe(2);
    expect(await page.locator('td.state').allTextContents()).toEqual(['confirmed', 'confirmed']);
    await shot(page, 'explorer-list');
    await page.locator(`tr[data-checkout-id="${other.checkoutId}"] a`).click();
    await active(page, 'checkout.confirmed').waitFor();
    expect(errors).toEqual([]);
  });

  it('says when an orchestrator instance that registered does not answer the list, and still lists the rest', async () => {
    // A registration left by an instance that is gone for good (it never answers its list subject).
    const owners = await (await t.system.transportFor('checkout')).kv(Bucket.sagaOwners);
    await owners.create('instance.1', 'gone-for-good');
    try {
      const { page, errors } = await open('/explorer?all=1');
      await page.locator(`tr[data-checkout-id="${stalled.checkoutId}"]`).waitFor();
      await expect.poll(async () => page.getByTestId('count').textContent()).toContain('1 orchestrator instance did not answer: its checkouts are missing');
      expect(errors).toEqual([]);
    } finally {
      // The bucket's contract has no delete: leave a slot that answers again for the later tests.
      await owners.put('instance.1', (await owners.get('instance.0'))!.value);
    }
  });

  it("opens a participant from the checkout and shows its machine in the participant's state", async () => {
    const { page, errors } = await open(`/explorer/checkouts/${stalled.checkoutId}`);
    await page.getByTestId('links').getByRole('link', { name: /^authorization/ }).click();
    await active(page, 'authorization.authorized').waitFor();
    expect(await page.locator('main').textContent()).toContain('reported by the payment service');
    await shot(page, 'explorer-participant-authorization');
    expect(errors).toEqual([]);
  });
});
