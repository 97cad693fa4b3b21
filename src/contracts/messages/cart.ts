/**
 * Shopping: the Cart API (cart-system). Catalog messages under
 * domains/Shopping/systems/cart-system/services/CartAPI, plus the HTTP shapes of its openapi.yml
 * and the product queries we added.
 */
import { z } from 'zod';
import { CanonicalOrderNumber } from '../order-number.ts';
import { Currency, DateTime, Money, NonNegativeMoney, PricedLineItem, Quantity, Uuid } from './common.ts';

// ---- Catalog: commands ---------------------------------------------------------------------

/** catalog `add-item-to-cart` (quantity has `"default": 1` in the catalog but is still required). */
export const AddItemToCart = z.object({
  cartId: Uuid,
  productId: Uuid,
  quantity: Quantity,
  /** Ours: the customer acting (the gateway sets it from the token under AUTH=jwt); a cart owned by another answers NOT_FOUND. */
  customerId: Uuid.optional(),
});
export type AddItemToCart = z.infer<typeof AddItemToCart>;

/** catalog `remove-item-from-cart`: without `quantity` the item is removed entirely. */
export const RemoveItemFromCart = z.object({
  cartId: Uuid,
  productId: Uuid,
  quantity: Quantity.optional(),
  /** Ours: the customer acting (the gateway sets it from the token under AUTH=jwt); a cart owned by another answers NOT_FOUND. */
  customerId: Uuid.optional(),
});
export type RemoveItemFromCart = z.infer<typeof RemoveItemFromCart>;

/** catalog `checkout-cart`: the shopper's command to the Cart API (decision 1). */
export const CheckoutCart = z.object({
  cartId: Uuid,
  customerId: Uuid,
  promotionCode: z.string().optional(),
});
export type CheckoutCart = z.infer<typeof CheckoutCart>;

// ---- Catalog: events -----------------------------------------------------------------------

/** catalog `cart-checked-out`: starts exactly one checkout saga (decision 1). */
export const CartCheckedOut = z.object({
  eventId: Uuid,
  occurredAt: DateTime,
  cartId: Uuid,
  customerId: Uuid,
  items: z.array(PricedLineItem),
  subtotal: Money.optional(),
  discount: Money.optional(),
  total: Money,
  currency: Currency,
});
export type CartCheckedOut = z.infer<typeof CartCheckedOut>;

// ---- HTTP contract (openapi.yml components.schemas) ----------------------------------------

export const CartStatus = z.enum(['OPEN', 'CHECKED_OUT', 'ABANDONED']);
export type CartStatus = z.infer<typeof CartStatus>;

/** openapi `CartItem`. */
export const CartItem = PricedLineItem;
export type CartItem = PricedLineItem;

/**
 * openapi `Cart`, plus optional fields of ours: once checked out, the cart names the order
 * allocated for it, its short number, and the checkout tracking it (decision 4: the shopper gets
 * the orderId at once).
 * Also the reply to add-item-to-cart, remove-item-from-cart, checkout-cart and get-cart.
 */
export const Cart = z.object({
  cartId: Uuid,
  customerId: Uuid.optional(),
  status: CartStatus,
  items: z.array(CartItem),
  subtotal: Money.optional(),
  discount: Money.optional(),
  total: Money.optional(),
  currency: Currency,
  orderId: Uuid.optional(),
  orderNumber: CanonicalOrderNumber.optional(),
  checkoutId: Uuid.optional(),
});
export type Cart = z.infer<typeof Cart>;

/** openapi `AddItemRequest`: body of `POST /carts/{cartId}/items`. */
export const AddItemRequest = z.object({
  productId: Uuid,
  quantity: Quantity,
});
export type AddItemRequest = z.infer<typeof AddItemRequest>;

/** openapi `CheckoutRequest`: body of `POST /carts/{cartId}/checkout`. */
export const CheckoutRequest = z.object({
  customerId: Uuid,
  promotionCode: z.string().optional(),
});
export type CheckoutRequest = z.infer<typeof CheckoutRequest>;

// ---- Additions (1.0.0) ---------------------------------------------------------------------

/** `get-cart` query. Replies with a {@link Cart}. */
export const GetCartRequest = z.object({
  cartId: Uuid,
  /** Ours: the customer acting (the gateway sets it from the token under AUTH=jwt); a cart owned by another answers NOT_FOUND. */
  customerId: Uuid.optional(),
});
export type GetCartRequest = z.infer<typeof GetCartRequest>;

/** A product in the catalogue the Cart API prices carts from. `sku` is what order-created carries. */
export const Product = z.object({
  productId: Uuid,
  sku: z.string().min(1),
  name: z.string().min(1),
  description: z.string().optional(),
  unitPrice: NonNegativeMoney,
  currency: Currency,
  imageUrl: z.string().optional(),
});
export type Product = z.infer<typeof Product>;

/** `list-products` query: no parameters. */
export const ListProductsRequest = z.object({});
export type ListProductsRequest = z.infer<typeof ListProductsRequest>;

export const ListProductsResponse = z.object({
  products: z.array(Product),
});
export type ListProductsResponse = z.infer<typeof ListProductsResponse>;

/** `get-product` query. Replies with a {@link Product}. */
export const GetProductRequest = z.object({
  productId: Uuid,
});
export type GetProductRequest = z.infer<typeof GetProductRequest>;
