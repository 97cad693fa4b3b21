/**
 * The storefront in a real browser (Debian's chromium through playwright-core; never a downloaded
 * one), against the whole system behind a listening gateway. A shopper buys and sees the order
 * confirmed live; another is declined by the payment simulator (configured to decline above
 * $500) and sees the cancellation and its reason in words. Screenshots at desktop and phone width
 * are kept in test-results/screenshots/.
 *
 * Every test runs in both identity modes: AUTH=off (a guest) and AUTH=jwt, where the test plays the
 * shop's login: it signs a token for a fresh customer with a key made here and opens the storefront
 * at `/#token=<JWT>`, as the login's redirect would.
 *
 * Without chromium the suite fails with how to install it (tests/support/browser.ts), never skips.
 */
import { randomUUID } from 'node:crypto';
import { exportSPKI, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { productIdFor } from '../../src/actors/seed/seed.ts';
import type { AuthConfig } from '../../src/gateway/auth.ts';
import { startShop, type Shop } from './support/shop-server.ts';
import { launchChromium, screenshotPath } from '../support/browser.ts';


const BIRDSEED = productIdFor('ACME-BIRDSEED');
const noSidewaysScroll = 'document.documentElement.scrollWidth <= window.innerWidth';
const PHONE = { width: 390, height: 844 };
const DESKTOP = { width: 1280, height: 900 };

const ISSUER = 'https://login.acme.test/';
const AUDIENCE = 'acme-shop';
const LOGIN = 'https://login.acme.test/authorize';

/** One chromium for both modes: every test opens a context of its own in it. */
let browser: Browser;
beforeAll(async () => {
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
});

describe.each(['off', 'jwt'] as const)('storefront in a real browser (AUTH=%s)', { timeout: 60_000 }, (mode) => {
  let shop: Shop;
  let signingKey: CryptoKey;

  beforeAll(async () => {
    let auth: AuthConfig = { mode: 'off' };
    if (mode === 'jwt') {
      const pair = await generateKeyPair('ES256', { extractable: true });
      signingKey = pair.privateKey;
      const publicKeyPem = await exportSPKI(pair.publicKey);
      auth = { mode, publicKeyPem, issuer: ISSUER, audience: AUDIENCE, operatorRole: 'operator', clockToleranceSec: 0, loginUrl: LOGIN };
    }
    shop = await startShop('embedded', {
      system: (c) => {
        c.payment = { ...c.payment, declineAbove: 50_000 };
      },
      gateway: { auth },
    });
  });

  /** What the shop's login would hand back: a token for a new customer. */
  const signIn = (customerId = randomUUID()) =>
    new SignJWT({})
      .setProtectedHeader({ alg: 'ES256' })
      .setSubject(customerId)
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setIssuedAt()
      .setExpirationTime('15m')
      .sign(signingKey);

  afterAll(async () => {
    await shop?.stop();
  });

  /** A fresh shopper (own localStorage) on the storefront; fails the test on any script error. */
  async function visit(viewport: { width: number; height: number }): Promise<{ page: Page; errors: string[] }> {
    const context = await browser.newContext({ viewport });
    // Playwright would otherwise wait forever for an element that never appears.
    context.setDefaultTimeout(10_000);
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    await page.goto(mode === 'jwt' ? `${shop.url}/#token=${await signIn()}` : shop.url);
    await page.locator('.product').first().waitFor();
    return { page, errors };
  }

  const shot = (page: Page, name: string) => page.screenshot({ path: screenshotPath(`${mode}-${name}.png`), fullPage: true });

  const product = (page: Page, name: string) => page.locator('.product', { has: page.getByRole('heading', { name }) });

  const finalStatus = (page: Page) =>
    page.locator('#order-status[data-status="CONFIRMED"], #order-status[data-status="CANCELLED"]').waitFor({ timeout: 15_000 });

  it('lists the products with prices and stock', async () => {
    const { page, errors } = await visit(DESKTOP);
    await expect.poll(() => page.locator('.product').count()).toBe(8);
    const anvil = product(page, 'Classic Anvil');
    expect(await anvil.locator('.price').textContent()).toBe('$129.00');
    expect(await anvil.locator('.stock').textContent()).toBe('25 in stock');
    expect(await product(page, 'Bat-Man Outfit').locator('.stock').textContent()).toBe('Only 3 left');
    await shot(page, 'desktop-catalogue');
    expect(errors).toEqual([]);
    await page.context().close();
  });

  it('buys a product and shows the order confirmed, live', async () => {
    const { page, errors } = await visit(DESKTOP);
    await product(page, 'Bird Seed (5 kg)').getByRole('button', { name: 'Add Bird Seed (5 kg) to cart' }).click();
    await product(page, 'Giant Magnet').getByRole('button', { name: 'Add Giant Magnet to cart' }).click();
    await expect.poll(() => page.locator('#cart-count').textContent()).toBe('2');
    await page.getByRole('button', { name: 'Remove one Giant Magnet' }).click();
    await expect.poll(() => page.locator('.cart-line').count()).toBe(1);
    await page.getByLabel('Promotion code').fill('WELCOME10');
    await shot(page, 'desktop-cart');
    await page.getByRole('button', { name: 'Check out' }).click();
    await finalStatus(page);
    expect(await page.locator('#order-status').getAttribute('data-status')).toBe('CONFIRMED');
    expect(await page.locator('#order-status').textContent()).toContain('Order confirmed');
    expect(await page.locator('#order-totals').textContent()).toContain('−$1.25');
    // The shopper is shown the short order number, never the UUID, and it finds the order.
    const orderNumber = (await page.locator('#order-id .order-number').textContent()) ?? '';
    expect(orderNumber).toMatch(/^ACME-[0-9A-Z]{4}-[0-9A-Z]{4}$/);
    await expect.poll(() => product(page, 'Bird Seed (5 kg)').locator('.stock').textContent()).toBe('199 in stock');
    await expect.poll(() => page.locator('.history__item').count()).toBe(1);
    // One word per status: the history says what the order panel says.
    expect(await page.locator('.history__item .order-number').textContent()).toBe(orderNumber);
    expect(await page.locator('.history__item .badge').textContent()).toBe('Confirmed');
    await shot(page, 'desktop-confirmed');
    // Changed their mind: a confirmed order can be cancelled, and its stock comes back.
    await page.getByRole('button', { name: 'Cancel order' }).click({ timeout: 5_000 });
    await expect.poll(() => page.locator('#order-status .order__reason').textContent()).toBe('You cancelled this order.');
    await expect
      .poll(async () => (await shop.http<{ available: number }>('GET', `/stock/${BIRDSEED}`)).body.available, { timeout: 10_000 })
      .toBe(200);
    expect(errors).toEqual([]);
    await page.context().close();
  });

  it('shows a declined payment as a cancellation, with the reason in words', async () => {
    const { page, errors } = await visit(DESKTOP);
    const hole = product(page, 'Portable Hole');
    await hole.getByLabel('Quantity of Portable Hole').fill('3'); // $597.00, above the $500 limit
    await hole.getByRole('button', { name: 'Add Portable Hole to cart' }).click();
    await expect.poll(() => page.locator('#cart-count').textContent()).toBe('3');
    await page.getByRole('button', { name: 'Check out' }).click();
    await finalStatus(page);
    const status = page.locator('#order-status');
    expect(await status.getAttribute('data-status')).toBe('CANCELLED');
    expect(await status.textContent()).toContain('Order cancelled');
    expect(await status.locator('.order__reason').textContent()).toBe('Your payment was declined by the card issuer.');
    await shot(page, 'desktop-declined');
    expect(errors).toEqual([]);
    await page.context().close();
  });

  it('applies a promotion code before checkout: shows the discount, or why there is none', async () => {
    const { page, errors } = await visit(DESKTOP);
    await product(page, 'Bird Seed (5 kg)').getByRole('button', { name: 'Add Bird Seed (5 kg) to cart' }).click();
    await expect.poll(() => page.locator('#cart-count').textContent()).toBe('1');
    const result = page.locator('#promo-result');
    await page.getByLabel('Promotion code').fill('bogus');
    await page.getByRole('button', { name: 'Apply' }).click();
    await expect.poll(() => result.textContent()).toBe('BOGUS is not a code we know. Check the spelling.');
    expect(await page.locator('#cart-discount-row').isHidden()).toBe(true);
    await page.getByLabel('Promotion code').fill('SAVE5');
    await page.getByRole('button', { name: 'Apply' }).click();
    await expect.poll(() => result.textContent()).toBe('SAVE5 needs a subtotal of at least $50.00.');
    await page.getByLabel('Promotion code').fill('WELCOME10');
    await page.getByRole('button', { name: 'Apply' }).click();
    await expect.poll(() => result.textContent()).toBe('WELCOME10 applied: you save $1.25.');
    expect(await page.locator('#cart-discount').textContent()).toBe('−$1.25');
    expect(await page.locator('#cart-total').textContent()).toBe('$11.25');
    // The cart changes: the quote follows it before anyone checks out.
    await page.getByRole('button', { name: 'Add one more Bird Seed (5 kg)' }).click();
    await expect.poll(() => page.locator('#cart-discount').textContent()).toBe('−$2.50');
    await shot(page, 'desktop-promotion-applied');
    await page.getByRole('button', { name: 'Check out' }).click();
    await finalStatus(page);
    expect(await page.locator('#order-totals').textContent()).toContain('−$2.50');
    expect(errors).toEqual([]);
    await page.context().close();
  });

  it('caps a quantity at the stock shown, and says so', async () => {
    const { page, errors } = await visit(DESKTOP);
    const suit = product(page, 'Bat-Man Outfit');
    expect(await suit.getByLabel('Quantity of Bat-Man Outfit').getAttribute('max')).toBe('3');
    await suit.getByLabel('Quantity of Bat-Man Outfit').fill('5');
    await suit.getByRole('button', { name: 'Add Bat-Man Outfit to cart' }).click();
    await expect.poll(() => page.locator('#toast').textContent()).toBe('Only 3 Bat-Man Outfit left.');
    expect(await page.locator('#cart-count').textContent()).toBe('0');
    expect(await suit.getByLabel('Quantity of Bat-Man Outfit').inputValue()).toBe('3');
    await suit.getByRole('button', { name: 'Add Bat-Man Outfit to cart' }).click();
    await expect.poll(() => page.locator('#cart-count').textContent()).toBe('3');
    await page.getByRole('button', { name: 'Add one more Bat-Man Outfit' }).click();
    await expect.poll(() => page.locator('#toast').textContent()).toBe('Only 3 Bat-Man Outfit left, and 3 are in your cart already.');
    expect(await page.locator('#cart-count').textContent()).toBe('3');
    expect(errors).toEqual([]);
    await page.context().close();
  });

  it('gives the cart back after an out-of-stock cancellation, with the reason beside the line, and checks it out after a change', async () => {
    const { page, errors } = await visit(DESKTOP);
    const skates = product(page, 'Rocket Skates');
    const suit = product(page, 'Bat-Man Outfit');
    await suit.getByLabel('Quantity of Bat-Man Outfit').fill('3');
    await suit.getByRole('button', { name: 'Add Bat-Man Outfit to cart' }).click();
    await skates.getByRole('button', { name: 'Add Rocket Skates to cart' }).click();
    await expect.poll(() => page.locator('#cart-count').textContent()).toBe('4');
    // Meanwhile another shopper buys 2 of the 3 outfits this shopper saw on the shelf.
    const other = randomUUID();
    const headers: Record<string, string> = mode === 'jwt' ? { authorization: `Bearer ${await signIn(other)}` } : {};
    const rival = randomUUID();
    expect((await shop.http('POST', `/carts/${rival}/items`, { productId: productIdFor('ACME-BATMAN-SUIT'), quantity: 2 }, headers)).status).toBe(200);
    const bought = await shop.http<{ checkoutId: string }>('POST', `/carts/${rival}/checkout`, { customerId: other }, headers);
    await expect
      .poll(async () => (await shop.http<{ status: string }>('GET', `/checkouts/${bought.body.checkoutId}`, undefined, headers)).body.status, { timeout: 15_000 })
      .toBe('CONFIRMED');

    await page.getByRole('button', { name: 'Check out' }).click();
    await finalStatus(page);
    expect(await page.locator('#order-status').getAttribute('data-status')).toBe('CANCELLED');
    expect(await page.locator('#order-status .order__reason').textContent()).toBe('Some items in your cart are out of stock.');
    await page.locator('#order-restored').waitFor();
    await page.getByRole('button', { name: 'Back to your cart' }).click();
    // The same lines, the reason above them and beside the line that caused it.
    expect(await page.evaluate<string>('document.activeElement.id')).toBe('cart');
    await expect.poll(() => page.locator('.cart-line').count()).toBe(2);
    expect(await page.locator('#cart-notice').textContent()).toContain('Some items in your cart are out of stock.');
    const suits = page.locator('.cart-line', { hasText: 'Bat-Man Outfit' });
    await expect.poll(() => suits.locator('.cart-line__note').textContent()).toBe('Only 1 left: lower the quantity to check out.');
    expect(await page.locator('.cart-line', { hasText: 'Rocket Skates' }).locator('.cart-line__note').count()).toBe(0);
    expect(await page.getByRole('button', { name: 'Check out' }).isDisabled()).toBe(true);
    await shot(page, 'desktop-cart-restored');
    // The shopper takes the one outfit left and checks out again.
    await page.getByRole('button', { name: 'Remove one Bat-Man Outfit' }).click();
    await expect.poll(() => page.locator('#cart-count').textContent()).toBe('3');
    await page.getByRole('button', { name: 'Remove one Bat-Man Outfit' }).click();
    await expect.poll(() => page.locator('#cart-count').textContent()).toBe('2');
    expect(await suits.locator('.cart-line__note').count()).toBe(0);
    await page.getByRole('button', { name: 'Check out' }).click();
    await finalStatus(page);
    expect(await page.locator('#order-status').getAttribute('data-status')).toBe('CONFIRMED');
    expect(errors).toEqual([]);
    await page.context().close();
  });

  it('can be used with the keyboard alone', async () => {
    const { page, errors } = await visit(DESKTOP);
    await page.keyboard.press('Tab');
    expect(await page.locator(':focus').textContent()).toBe('Skip to products');
    const add = page.getByRole('button', { name: 'Add Dynamite Kit to cart' });
    await add.focus();
    await page.keyboard.press('Enter');
    await expect.poll(() => page.locator('#cart-count').textContent()).toBe('1');
    await page.getByLabel('Promotion code').focus();
    await page.keyboard.press('Enter'); // submits the checkout form
    await finalStatus(page);
    expect(await page.locator('#order-status').getAttribute('data-status')).toBe('CONFIRMED');
    // Every form control has a label a screen reader can read.
    // (Strings, not functions: these run in the page, and the tests compile without DOM types.)
    const unlabelled = await page.evaluate<number>("[...document.querySelectorAll('input')].filter((i) => !i.labels?.length).length");
    expect(unlabelled).toBe(0);
    expect(errors).toEqual([]);
    await page.context().close();
  });

  it('works at a phone’s width, without sideways scrolling', async () => {
    const { page, errors } = await visit(PHONE);
    expect(await page.evaluate<boolean>(noSidewaysScroll)).toBe(true);
    await page.screenshot({ path: screenshotPath(`${mode}-phone-catalogue.png`) });
    await product(page, 'Rocket Skates').getByRole('button', { name: 'Add Rocket Skates to cart' }).click();
    await expect.poll(() => page.locator('#cart-count').textContent()).toBe('1');
    await page.getByRole('link', { name: /Cart/ }).click();
    await page.locator('#cart').screenshot({ path: screenshotPath(`${mode}-phone-cart.png`) });
    await page.getByRole('button', { name: 'Check out' }).click();
    await finalStatus(page);
    expect(await page.locator('#order-status').getAttribute('data-status')).toBe('CONFIRMED');
    expect(await page.evaluate<boolean>(noSidewaysScroll)).toBe(true);
    await page.screenshot({ path: screenshotPath(`${mode}-phone-confirmed.png`) });
    expect(errors).toEqual([]);
    await page.context().close();
  });

  it('says who is shopping; under AUTH=jwt takes the token out of the address bar and offers the login to a shopper without one', async () => {
    const { page, errors } = await visit(DESKTOP);
    expect(page.url()).toBe(`${shop.url}/`);
    expect(await page.locator('#customer-label').textContent()).toMatch(/^#[0-9a-f]{8}$/);
    const context = await browser.newContext({ viewport: DESKTOP });
    const stranger = await context.newPage();
    await stranger.goto(shop.url);
    await stranger.locator('.product').first().waitFor();
    const signInLink = stranger.getByRole('link', { name: 'Sign in' });
    await product(stranger, 'Giant Magnet').getByRole('button', { name: 'Add Giant Magnet to cart' }).click();
    if (mode === 'off') {
      // A guest: no sign-in anywhere, and shopping just works.
      expect(await signInLink.count()).toBe(0);
      await expect.poll(() => stranger.locator('#cart-count').textContent()).toBe('1');
    } else {
      expect(await signInLink.getAttribute('href')).toBe(`${LOGIN}?return_to=${encodeURIComponent(`${shop.url}/`)}`);
      // Shopping without a token is refused by the gateway and said so, not silently ignored.
      await expect.poll(() => stranger.locator('#toast').textContent()).toContain('sign in');
      expect(await stranger.locator('#cart-count').textContent()).toBe('0');
    }
    expect(errors).toEqual([]);
    await context.close();
    await page.context().close();
  });
});
