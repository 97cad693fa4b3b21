// Every word the storefront says about an order, a checkout step, a cancellation or a promotion
// code, in one place: the order panel, the history list and the cart read them from here, so the
// same state never has two names (an order the panel calls confirmed is "Confirmed" in the history).

/**
 * One word per status. A checkout's CONFIRMED and an order's CREATED are the same fact seen from
 * two services, so they share a word.
 */
export const STATUS_WORDS = {
  PENDING: 'Processing',
  CONFIRMED: 'Confirmed',
  CREATED: 'Confirmed',
  COMPLETED: 'Completed',
  CANCELLED: 'Cancelled',
  NEEDS_ATTENTION: 'Delayed',
};

export const statusWord = (status) => STATUS_WORDS[status] ?? 'Processing';

/** The catalog's coarse cancellation reasons, for when the checkout names no finer one. */
export const REASONS = {
  OUT_OF_STOCK: 'Some items in your cart are out of stock.',
  PAYMENT_FAILED: 'Your payment could not be completed.',
  FRAUD: 'The payment was refused by our fraud checks.',
  CUSTOMER_REQUESTED: 'You cancelled this order.',
};

export const STEP_WORDS = {
  RESERVING_INVENTORY: 'Reserving your items…',
  AUTHORIZING_PAYMENT: 'Authorizing your payment…',
  CREATING_ORDER: 'Placing your order…',
  COMPENSATING: 'Something went wrong; undoing the reservation and payment…',
  DONE: 'Finishing…',
};

/** Why a promotion code gives no discount, by the Promotion Service's reason. */
const PROMOTION_REFUSALS = {
  UNKNOWN_CODE: (code) => `${code} is not a code we know. Check the spelling.`,
  INACTIVE: (code) => `${code} is not active any more.`,
  NOT_STARTED: (code) => `${code} is not valid yet.`,
  EXPIRED: (code) => `${code} has expired.`,
  MIN_SPEND_NOT_MET: (code, minSpend) => (minSpend ? `${code} needs a subtotal of at least ${minSpend}.` : `${code} needs a larger order.`),
  CURRENCY_MISMATCH: (code) => `${code} does not apply to prices in this currency.`,
};

export const promotionRefusal = (code, reason, minSpend) =>
  (PROMOTION_REFUSALS[reason] ?? ((c) => `${c} does not apply to this cart.`))(code, minSpend);

export const codeDidNotApply = (code) => `Code ${code} did not apply to this order.`;

export const promotionApplied = (code, discount) => `${code} applied: you save ${discount}.`;

/** Beside a restored cart: why the last checkout did not go through, and what to do now. */
export const restoredNote = (reasonText) => `Your last checkout was cancelled: ${reasonText} Your items are back in your cart; change what you need and check out again.`;

/** Beside a line that asks for more than the shelf holds. */
export const stockNote = (available) => (available === 0 ? 'Out of stock now: remove it to check out.' : `Only ${available} left: lower the quantity to check out.`);

/** When a shopper asks for more than the stock shown. */
export const capNote = (name, available, inCart) =>
  available === 0
    ? `${name} is out of stock.`
    : inCart > 0
      ? `Only ${available} ${name} left, and ${inCart} ${inCart === 1 ? 'is' : 'are'} in your cart already.`
      : `Only ${available} ${name} left.`;
