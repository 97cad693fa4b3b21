// Acme Supply Co. storefront. No framework: state in a few variables, DOM built with `h()` (never
// innerHTML, so product text cannot inject markup), every call to the gateway's JSON API.
//
// The cart id lives in localStorage, so a reload keeps it; who the shopper is comes from session.js
// (a guest id, or the signed-in customer of the shop's login under AUTH=jwt).
// Checkout sends an Idempotency-Key that is kept until the answer arrives: a retry after a dropped
// connection replays the first checkout instead of failing with "already checked out".
// Checkout progress arrives over Server-Sent Events (/checkouts/{id}/events); no polling.

import { $, api, ApiError, explain, h, hideToast, money, store, toast, uuid, uuidv7 } from './lib.js';
import { productArt } from './art.js';
import { showIdentity, startSession } from './session.js';
import { capNote, codeDidNotApply, promotionApplied, restoredNote, stockNote, promotionRefusal, REASONS, STEP_WORDS, statusWord } from './words.js';

const STEPS = ['RESERVING_INVENTORY', 'AUTHORIZING_PAYMENT', 'CREATING_ORDER'];
/** The step a failure happened at, so the progress list can show where the checkout stopped. */
const FAILED_AT = {
  OUT_OF_STOCK: 'RESERVING_INVENTORY',
  INVENTORY_TIMEOUT: 'RESERVING_INVENTORY',
  PAYMENT_DECLINED: 'AUTHORIZING_PAYMENT',
  PAYMENT_TIMEOUT: 'AUTHORIZING_PAYMENT',
  FRAUD: 'AUTHORIZING_PAYMENT',
  ORDER_REJECTED: 'CREATING_ORDER',
  ORDER_TIMEOUT: 'CREATING_ORDER',
};

// ---- State -------------------------------------------------------------------------------------

const session = await startSession();
const customerId = session.customerId;
// A cart exists only after its first add-item; until then there is nothing to load.
const returning = store.get('cartActive') === '1';
let cartId = store.get('cartId') ?? uuidv7();
store.set('cartId', cartId);
let products = [];
let cart = null;
let events = null;
/** The last promotion quote shown for the code in the box: {code, quote} (GET /carts/{id}/promotion-quote). */
let promo = null;

const productName = (id) => products.find((p) => p.productId === id)?.name ?? 'Item';

// ---- Catalogue ---------------------------------------------------------------------------------

/** Card backgrounds, spread around the colour wheel by the golden angle so neighbours differ. */
const hueOf = (index) => Math.round((index * 137.508 + 18) % 360);
/** productId -> units available, as last shown on the catalogue (undefined: not known). */
const stockShown = new Map();
/** The most of a product the shopper may add: what the shelf shows, within the per-line limit. */
const MAX_PER_LINE = 99;
const capOf = (productId) => Math.min(stockShown.get(productId) ?? MAX_PER_LINE, MAX_PER_LINE);
const inCartOf = (productId) => (cart?.status === 'OPEN' ? (cart.items.find((l) => l.productId === productId)?.quantity ?? 0) : 0);

function stockBadge(stock) {
  if (!stock) return h('span', { class: 'stock stock--unknown' }, 'Stock unknown');
  if (stock.available === 0) return h('span', { class: 'stock stock--out' }, 'Out of stock');
  if (stock.available <= 5) return h('span', { class: 'stock stock--low' }, `Only ${stock.available} left`);
  return h('span', { class: 'stock' }, `${stock.available} in stock`);
}

function productCard(p, stock, index) {
  const qtyId = `qty-${p.productId}`;
  const soldOut = stock?.available === 0;
  const qty = h('input', { class: 'qty', id: qtyId, type: 'number', min: 1, max: Math.max(1, capOf(p.productId)), value: 1, inputmode: 'numeric' });
  return h(
    'li',
    { class: 'product', 'data-product-id': p.productId, 'data-sku': p.sku },
    h('div', { class: 'product__art', style: { '--hue': String(hueOf(index)) } }, productArt(p)),
    h(
      'div',
      { class: 'product__body' },
      h('h3', { class: 'product__name' }, p.name),
      h('p', { class: 'product__desc' }, p.description ?? ''),
      h('div', { class: 'product__meta' }, h('span', { class: 'price' }, money(p.unitPrice, p.currency)), stockBadge(stock)),
      h(
        'div',
        { class: 'product__buy' },
        h('label', { class: 'visually-hidden', for: qtyId }, `Quantity of ${p.name}`),
        qty,
        h(
          'button',
          {
            type: 'button',
            class: 'button button--primary',
            disabled: soldOut,
            'aria-label': `Add ${p.name} to cart`,
            onclick: (e) => addItem(p.productId, Number(qty.value), e.currentTarget),
          },
          soldOut ? 'Sold out' : 'Add to cart',
        ),
      ),
    ),
  );
}

async function loadCatalogue() {
  const grid = $('product-grid');
  try {
    products = (await api('GET', '/products')).json.products;
    const stocks = await Promise.all(
      products.map((p) => api('GET', `/stock/${p.productId}`).then((r) => r.json, () => undefined)),
    );
    stockShown.clear();
    products.forEach((p, i) => stocks[i] && stockShown.set(p.productId, stocks[i].available));
    grid.replaceChildren(...products.map((p, i) => productCard(p, stocks[i], i)));
    $('catalogue-notice').hidden = true;
    renderCart(); // the lines' stock notes follow the shelf
  } catch (err) {
    $('catalogue-notice').textContent = `The catalogue could not be loaded. ${explain(err)}`;
    $('catalogue-notice').hidden = false;
  } finally {
    grid.setAttribute('aria-busy', 'false');
  }
}

// ---- Cart --------------------------------------------------------------------------------------

function renderCart() {
  const lines = cart?.status === 'OPEN' ? cart.items : [];
  const count = lines.reduce((n, l) => n + l.quantity, 0);
  $('cart-count').textContent = String(count);
  $('cart-empty').hidden = lines.length > 0;
  $('cart-totals').hidden = lines.length === 0;
  // A line asking for more than the shelf shows would only be refused again at the reservation.
  $('checkout-button').disabled = lines.length === 0 || lines.some((l) => l.quantity > (stockShown.get(l.productId) ?? Infinity));
  const restored = lines.length > 0 ? cart.restoredFrom : undefined;
  $('cart-notice').hidden = !restored;
  $('cart-notice').textContent = restored ? restoredNote(REASONS[restored.reason] ?? 'it could not be completed.') : '';
  $('cart-lines').replaceChildren(
    ...lines.map((l) => {
      const name = productName(l.productId);
      const available = stockShown.get(l.productId);
      const short = available !== undefined && l.quantity > available;
      const noteId = `stock-note-${l.productId}`;
      return h(
        'li',
        { class: `cart-line${short ? ' is-short' : ''}`, 'data-product-id': l.productId },
        h('span', { class: 'cart-line__name' }, name),
        h('span', { class: 'cart-line__total' }, money(l.quantity * l.unitPrice, cart.currency)),
        h('span', { class: 'cart-line__detail' }, `${l.quantity} × ${money(l.unitPrice, cart.currency)}`),
        short ? h('span', { class: 'cart-line__note', id: noteId }, stockNote(available)) : null,
        h(
          'span',
          { class: 'cart-line__actions' },
          h('button', { type: 'button', class: 'button button--small', 'aria-label': `Remove one ${name}`, onclick: () => removeItem(l.productId, 1) }, '−'),
          h('button', { type: 'button', class: 'button button--small', 'aria-label': `Add one more ${name}`, 'aria-describedby': short ? noteId : undefined, onclick: (e) => addItem(l.productId, 1, e.currentTarget) }, '+'),
          h('button', { type: 'button', class: 'button button--link', 'aria-label': `Remove ${name} from cart`, onclick: () => removeItem(l.productId) }, 'Remove'),
        ),
      );
    }),
  );
  $('cart-subtotal').textContent = cart ? money(cart.subtotal, cart.currency) : '';
  renderPromo();
}

// ---- Promotion code ----------------------------------------------------------------------------

/** Shows the quote beside the code, and the discount and total in the cart's totals. */
function renderPromo() {
  const out = $('promo-result');
  const q = promo?.quote;
  const applies = Boolean(q?.applies) && cart?.status === 'OPEN';
  $('cart-discount-row').hidden = !applies;
  $('cart-total-row').hidden = !applies;
  if (applies) {
    $('cart-discount').textContent = `−${money(q.discount, q.currency)}`;
    $('cart-total').textContent = money(q.total, q.currency);
  }
  if (!q) {
    out.textContent = '';
    out.className = 'promo__result';
  } else if (q.applies) {
    out.textContent = promotionApplied(q.promotionCode, money(q.discount, q.currency));
    out.className = 'promo__result is-ok';
  } else {
    out.textContent = promotionRefusal(q.promotionCode, q.reason, q.minSpend === undefined ? undefined : money(q.minSpend, q.currency));
    out.className = 'promo__result is-bad';
  }
}

/** Asks what the code takes off this cart now; `quiet` for a refresh after the cart changed. */
async function quoteCode(code, quiet = false) {
  if (!cart || cart.status !== 'OPEN' || cart.items.length === 0) {
    promo = null;
    renderPromo();
    if (!quiet) $('promo-result').textContent = 'Add something to your cart first, then apply the code.';
    return;
  }
  try {
    const { json } = await api('GET', `/carts/${cartId}/promotion-quote?code=${encodeURIComponent(code)}`);
    promo = { code, quote: json };
  } catch (err) {
    promo = null;
    if (!quiet) $('promo-result').textContent = explain(err);
  }
  renderPromo();
}

async function applyCode() {
  const code = $('promo-code').value.trim().toUpperCase();
  if (!code) {
    promo = null;
    renderPromo();
    $('promo-result').textContent = 'Type a code first.';
    $('promo-code').focus();
    return;
  }
  const button = $('apply-code');
  button.disabled = true;
  try {
    await quoteCode(code);
  } finally {
    button.disabled = false;
  }
}

/** The cart changed: a shown quote is stale, so ask again (a minimum spend may now be met). */
function requote() {
  if (promo) void quoteCode(promo.code, true);
}

async function loadCart() {
  try {
    cart = (await api('GET', `/carts/${cartId}`)).json;
    if (cart.status !== 'OPEN') {
      // Checked out (or abandoned) already: its checkout is tracked below; shop with a new cart.
      newCart();
    }
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 404)) toast(explain(err));
    // Gone, or not this shopper's (another customer signed in on this browser): start a new one.
    else newCart();
    cart = null;
  }
  renderCart();
}

async function addItem(productId, quantity, button) {
  if (!Number.isInteger(quantity) || quantity < 1) return toast('Choose a quantity of at least 1.');
  // Capped at the stock shown: the reservation at checkout is what holds stock, but asking for
  // more than the shelf shows would only fail there (docs/architecture.md).
  const inCart = inCartOf(productId);
  if (inCart + quantity > capOf(productId)) {
    const qty = document.getElementById(`qty-${productId}`);
    if (qty) qty.value = String(Math.max(1, capOf(productId) - inCart));
    return toast(capNote(productName(productId), capOf(productId), inCart));
  }
  if (button) button.disabled = true;
  try {
    cart = (await api('POST', `/carts/${cartId}/items`, { productId, quantity })).json;
    store.set('cartActive', '1');
    renderCart();
    requote();
    toast(`Added ${quantity} × ${productName(productId)} to your cart.`);
  } catch (err) {
    toast(explain(err));
  } finally {
    if (button) button.disabled = false;
  }
}

async function removeItem(productId, quantity) {
  const query = quantity ? `?quantity=${quantity}` : '';
  try {
    cart = (await api('DELETE', `/carts/${cartId}/items/${productId}${query}`)).json;
    renderCart();
    requote();
    if (!quantity) $('cart').focus();
  } catch (err) {
    toast(explain(err));
  }
}

function newCart() {
  cartId = uuidv7();
  store.set('cartId', cartId);
  store.set('cartActive', null);
  cart = null;
}

// ---- Checkout ----------------------------------------------------------------------------------

async function checkout(e) {
  e.preventDefault();
  const button = $('checkout-button');
  const promotionCode = $('promo-code').value.trim().toUpperCase();
  const key = store.get('checkoutKey') ?? uuid();
  store.set('checkoutKey', key);
  button.disabled = true;
  button.textContent = 'Placing order…';
  try {
    const { json } = await api(
      'POST',
      `/carts/${cartId}/checkout`,
      { customerId, ...(promotionCode ? { promotionCode } : {}) },
      { 'idempotency-key': key },
    );
    store.set('checkoutKey', null);
    const tracked = { checkoutId: json.checkoutId, orderId: json.orderId, orderNumber: json.orderNumber, cartId: json.cartId, cart: json, promotionCode };
    store.set('checkout', JSON.stringify(tracked));
    $('promo-code').value = '';
    promo = null;
    hideToast();
    newCart();
    renderCart();
    watch(tracked);
  } catch (err) {
    // A refusal will not change on retry; a lost answer or outage might, with the same key.
    if (err instanceof ApiError && err.status < 500 && err.status !== 429) store.set('checkoutKey', null);
    toast(explain(err));
  } finally {
    button.textContent = 'Check out';
    renderCart();
  }
}

function renderOrderTotals(tracked) {
  const c = tracked.cart;
  const rows = [['Subtotal', money(c.subtotal, c.currency)]];
  if (c.discount) rows.push(['Discount', `−${money(c.discount, c.currency)}`, 'totals__discount']);
  rows.push(['Total', money(c.total, c.currency), 'totals__grand']);
  $('order-totals').replaceChildren(...rows.map(([k, v, cls]) => h('div', { class: cls }, h('dt', {}, k), h('dd', {}, v))));
  if (tracked.promotionCode && !c.discount) {
    $('order-totals').append(h('p', { class: 'fineprint' }, codeDidNotApply(tracked.promotionCode)));
  }
}

function renderStatus(s) {
  const done = s.status === 'CONFIRMED';
  // A customer's own cancellation comes after a confirmed checkout: every step was completed.
  const allSteps = done || s.reason === 'CUSTOMER_REQUESTED';
  const failed = !allSteps && (s.status === 'CANCELLED' || s.status === 'NEEDS_ATTENTION');
  const at = STEPS.indexOf(failed ? (FAILED_AT[s.detail] ?? s.step) : s.step);
  for (const li of $('order-steps').children) {
    const i = STEPS.indexOf(li.dataset.step);
    li.className = allSteps || (at >= 0 && i < at) ? 'is-done' : i !== at ? '' : failed ? 'is-failed' : 'is-current';
    li.toggleAttribute('aria-current', i === at && !allSteps && !failed);
  }
  const box = $('order-status');
  box.className = `order__status${done ? ' is-confirmed' : ''}${failed ? ' is-cancelled' : ''}`;
  box.dataset.status = s.status;
  if (done) {
    box.replaceChildren(h('strong', {}, `Order ${statusWord(s.status).toLowerCase()}`), h('p', {}, 'Thank you! We will email you when it ships.'));
  } else if (s.status === 'CANCELLED') {
    const why = s.reasonText ?? REASONS[s.reason] ?? 'The order could not be completed.';
    box.replaceChildren(h('strong', {}, `Order ${statusWord(s.status).toLowerCase()}`), h('p', { class: 'order__reason' }, why), h('p', {}, 'You have not been charged.'));
  } else if (s.status === 'NEEDS_ATTENTION') {
    box.replaceChildren(h('strong', {}, `Order ${statusWord(s.status).toLowerCase()}`), h('p', {}, s.reasonText ?? 'We are looking into it; our team has been notified.'));
  } else {
    box.replaceChildren(h('strong', {}, statusWord(s.status)), h('p', {}, STEP_WORDS[s.step] ?? 'Working on it…'));
  }
  const final = done || s.status === 'CANCELLED';
  $('new-cart').hidden = !final;
  $('cancel-order').hidden = !done;
}

function watch(tracked) {
  $('cart').hidden = true;
  $('order').hidden = false;
  // The short number is what a shopper reads out on the phone; older tracked checkouts lack it.
  $('order-id').replaceChildren('Order number ', h('strong', { class: 'order-number' }, tracked.orderNumber ?? tracked.orderId));
  renderOrderTotals(tracked);
  renderStatus({ status: 'PENDING', step: 'RESERVING_INVENTORY' });
  $('order-restored').hidden = true;
  $('new-cart').textContent = 'Continue shopping';
  $('order').focus();
  events?.close();
  events = session.events(`/checkouts/${tracked.checkoutId}/events?cartId=${tracked.cartId}`);
  events.addEventListener('status', (e) => {
    const s = JSON.parse(e.data);
    renderStatus(s);
    if (s.status === 'CONFIRMED' || s.status === 'CANCELLED') {
      events.close();
      events = null;
      void loadCatalogue();
      void loadHistory();
      if (s.status === 'CANCELLED' && s.reason !== 'CUSTOMER_REQUESTED') void restoreCart(tracked);
    }
  });
  events.addEventListener('error', () => {
    // The browser reconnects by itself (Last-Event-ID skips what we already have).
    if (events?.readyState === EventSource.CONNECTING) $('order-status').dataset.reconnecting = 'true';
  });
}

/**
 * A checkout cancelled for any cause but the shopper's own gives the cart back: the Cart API
 * reopens it as a new cart (named by the old one's `reopenedAs`, a moment after the cancellation),
 * which becomes this shopper's cart, with the reason beside it.
 */
async function restoreCart(tracked) {
  // A cart started meanwhile (another tab, or a reload that already restored this one) stays.
  if (store.get('cartActive') === '1') return;
  const giveUpAt = Date.now() + 10_000;
  while (Date.now() < giveUpAt) {
    try {
      const old = (await api('GET', `/carts/${tracked.cartId}`)).json;
      if (old.reopenedAs) {
        cartId = old.reopenedAs;
        store.set('cartId', cartId);
        store.set('cartActive', '1');
        cart = (await api('GET', `/carts/${cartId}`)).json;
        renderCart();
        $('order-restored').hidden = false;
        $('new-cart').textContent = 'Back to your cart';
        return;
      }
    } catch {
      // Not reopened yet, or the shop is busy: look again shortly.
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
}

function finishOrder() {
  events?.close();
  events = null;
  store.set('checkout', null);
  $('order').hidden = true;
  $('cart').hidden = false;
  renderCart();
  // Back to the restored cart when there is one, else to the catalogue.
  (cart?.status === 'OPEN' && cart.items.length > 0 ? $('cart') : $('products')).focus();
}

async function cancelOrder() {
  const tracked = JSON.parse(store.get('checkout') ?? 'null');
  if (!tracked) return;
  const button = $('cancel-order');
  button.disabled = true;
  try {
    await api('POST', `/orders/${tracked.orderId}/cancel`, undefined, { 'idempotency-key': `cancel-${tracked.orderId}` });
    renderStatus({ status: 'CANCELLED', reason: 'CUSTOMER_REQUESTED', step: 'DONE' });
    $('new-cart').focus();
    void loadCatalogue();
    void loadHistory();
  } catch (err) {
    toast(explain(err));
  } finally {
    button.disabled = false;
  }
}

async function loadHistory() {
  if (!customerId) return;
  try {
    const { orders } = (await api('GET', `/customers/${customerId}/orders`)).json;
    $('history').hidden = orders.length === 0;
    $('history-list').replaceChildren(
      ...orders
        .slice(-5)
        .reverse()
        .map((o) =>
          h(
            'li',
            { class: 'history__item' },
            h('span', { class: 'order-number' }, o.orderNumber ?? o.orderId),
            h('span', {}, money(o.total, o.currency)),
            h('span', { class: `badge badge--${o.status}` }, statusWord(o.status)),
          ),
        ),
    );
  } catch {
    $('history').hidden = true;
  }
}

// ---- Start -------------------------------------------------------------------------------------

showIdentity(session, $('customer-label'));
$('checkout-form').addEventListener('submit', checkout);
$('apply-code').addEventListener('click', applyCode);
// A different code makes the shown quote wrong: clear it until the shopper applies again.
$('promo-code').addEventListener('input', () => {
  if (promo && promo.code !== $('promo-code').value.trim().toUpperCase()) {
    promo = null;
    renderPromo();
  }
});
$('new-cart').addEventListener('click', finishOrder);
$('cancel-order').addEventListener('click', cancelOrder);

await loadCatalogue();
if (returning) await loadCart();
void loadHistory();
const resumed = JSON.parse(store.get('checkout') ?? 'null');
if (resumed) watch(resumed);
