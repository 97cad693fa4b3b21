/**
 * The HTTP shapes, all derived from the message contracts so that HTTP and NATS cannot drift.
 * Named documents are registered (`.meta({ id })`) so that /openapi.json shows them as components
 * under the catalog's names (Cart, AddItemRequest, CheckoutRequest...).
 */
import { z } from 'zod';
import {
  AddItemRequest,
  Cart,
  CheckoutRequest,
  CheckoutStatus,
  Currency,
  ErrorBody,
  GetOrderResponse,
  GetStockLevelResponse,
  ListCustomerOrdersResponse,
  ListProductsResponse,
  NonNegativeMoney,
  OrderCancelled,
  OrderCompleted,
  Product,
  Quantity,
  Uuid,
} from '../contracts/index.ts';
import { OrderNumber } from '../contracts/order-number.ts';

// ---- Documents -------------------------------------------------------------------------------

export const CartDoc = Cart.meta({
  id: 'Cart',
  description: 'A shopping cart. Once checked out it also names the order and the checkout tracking it.',
});
export const AddItemBody = AddItemRequest.meta({ id: 'AddItemRequest' });
export const CheckoutBody = CheckoutRequest.meta({ id: 'CheckoutRequest' });
export const ProductDoc = Product.meta({ id: 'Product', description: 'A product the shop sells; prices in minor units.' });
export const ProductListDoc = ListProductsResponse.meta({ id: 'ProductList' });
export const StockLevelDoc = GetStockLevelResponse.meta({
  id: 'StockLevel',
  description: 'Units available to reserve, and units held by checkouts in progress or orders not yet completed.',
});
export const OrderDoc = GetOrderResponse.meta({ id: 'Order' });
export const OrderListDoc = ListCustomerOrdersResponse.meta({ id: 'OrderList' });
export const OrderCancelledDoc = OrderCancelled.meta({ id: 'OrderCancelled' });
export const OrderCompletedDoc = OrderCompleted.meta({ id: 'OrderCompleted' });
export const PromotionQuoteDoc = z
  .object({
    promotionCode: z.string().describe('The code as the shop spells it (as typed, when unknown).'),
    applies: z.boolean(),
    subtotal: NonNegativeMoney,
    discount: NonNegativeMoney,
    total: NonNegativeMoney,
    currency: Currency,
    reason: z
      .string()
      .optional()
      .describe('Why the code gives no discount: UNKNOWN_CODE, INACTIVE, NOT_STARTED, EXPIRED, MIN_SPEND_NOT_MET or CURRENCY_MISMATCH.'),
    minSpend: NonNegativeMoney.optional().describe('The subtotal the code needs, when that is the reason.'),
  })
  .meta({
    id: 'PromotionQuote',
    description: 'What a promotion code would take off this cart now. Checkout prices the cart again; this is a preview.',
  });
export const CheckoutStatusDoc = CheckoutStatus.meta({
  id: 'CheckoutStatus',
  description:
    'Where a checkout stands: PENDING with its current step, CONFIRMED, or CANCELLED with the reason ' +
    '(`reason` as the catalog names it, `reasonText` in plain words).',
});

// ---- Parameters and headers ------------------------------------------------------------------

export const CartParams = z.object({ cartId: Uuid.describe('Unique identifier of the cart.') });
export const CartItemParams = z.object({
  cartId: Uuid.describe('Unique identifier of the cart.'),
  productId: Uuid.describe('Identifier of the product to remove.'),
});
export const RemoveItemQuery = z.object({
  quantity: z.coerce
    .number()
    .pipe(Quantity)
    .optional()
    .describe('How many units to remove. Without it the line is removed entirely.'),
});
export const PromotionQuoteQuery = z.object({
  code: z.string().trim().min(1).max(40).describe('The promotion code the shopper typed.'),
});
export const ProductParams = z.object({ productId: Uuid.describe('Identifier of the product.') });
export const OrderParams = z.object({ orderId: Uuid.describe('Identifier of the order.') });
export const OrderRefParams = z.object({
  idOrNumber: z
    .union([Uuid, OrderNumber])
    .describe('The order id, or its short order number (ACME-XXXX-XXXX; case, hyphens and I/L/O are forgiven).'),
});
export const CustomerParams = z.object({ customerId: Uuid.describe('Identifier of the customer.') });
export const CheckoutParams = z.object({ checkoutId: Uuid.describe('Identifier of the checkout.') });
export const CheckoutQuery = z.object({
  cartId: Uuid.optional().describe(
    'The checked-out cart, if known. Lets any gateway instance recognise a checkout whose saga has not reported yet.',
  ),
});

/** Printable ASCII, as Stripe and the IETF draft allow; long enough for a UUID with a prefix. */
const IdempotencyKey = z
  .string()
  .min(1)
  .max(255)
  .regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces')
  .describe('Makes a retried request return the first result instead of acting twice.');

/** Loose: the other request headers stay on the request (correlation ids, content type...). */
export const IdempotentHeaders = z.looseObject({ 'idempotency-key': IdempotencyKey.optional() });

export const OperatorHeaders = z.looseObject({
  authorization: z.string().optional().describe('`Bearer <operator token>` when the gateway is configured with one.'),
  'idempotency-key': IdempotencyKey.optional(),
});

// ---- Responses -------------------------------------------------------------------------------

/** The catalog's `Error {code, message}`, with the meaning of this status for this route. */
export const problem = (description: string) => ErrorBody.describe(description);

/** Failures any route that calls a service can answer, beside its own. */
export const serviceErrors = {
  429: problem('Too many requests from this client; wait for the time given in Retry-After.'),
  500: problem('The gateway failed. The body never says why; the logs do, under the request id.'),
  502: problem('A service failed or answered something unreadable. The body never says why.'),
  503: problem('A service did not answer within its deadline. Retry after the time given in Retry-After.'),
};

/** Refusals of a shopper route under AUTH=jwt (never under AUTH=off). */
export const shopperAuth = {
  401: problem('AUTH=jwt: no bearer token, or one that is expired, not signed by the shop’s identity provider, or minted for another audience.'),
  403: problem('AUTH=jwt: a customerId in the request is not the signed-in customer.'),
};

/** Operator routes: 401 without credentials, 403 with a token that lacks the operator role. */
export const operatorAuth = {
  401: problem('No operator credentials, or wrong ones (AUTH=jwt: a bearer token; AUTH=off: OPERATOR_TOKEN, when set).'),
  403: problem('AUTH=jwt: the token lacks the operator role.'),
};

/** OpenAPI: a shopper route takes a JWT under AUTH=jwt and nothing under AUTH=off (the catalog's contract). */
export const shopperSecurity: readonly Record<string, readonly string[]>[] = [{ shopperJwt: [] }, {}];
/** OpenAPI: an operator route takes a JWT with the operator role, or OPERATOR_TOKEN under AUTH=off. */
export const operatorSecurity: readonly Record<string, readonly string[]>[] = [{ shopperJwt: [] }, { operatorToken: [] }];

/** Failures of a route that takes a JSON body, before the route runs. */
export const bodyErrors = {
  413: problem('The body is larger than the gateway accepts.'),
  415: problem('The body is not JSON: send Content-Type application/json.'),
};

export const HealthDoc = z.object({ status: z.literal('ok') }).meta({ id: 'Health' });

export const ReadinessDoc = z
  .object({
    status: z.enum(['ready', 'not ready']),
    checks: z.record(
      z.string(),
      z.object({ status: z.enum(['up', 'down']), latencyMs: z.number().int().optional() }),
    ),
  })
  .meta({ id: 'Readiness' });
