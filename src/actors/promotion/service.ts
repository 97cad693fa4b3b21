/**
 * Promotion Service (Shopping). Serves calculate-discount: prices the shopper's promotion code
 * against the cart's subtotal (rules.ts), replies with the discount, and publishes
 * discount-calculated to SHOPPING through the outbox, in the transaction that stores the reply.
 * Serves quote-promotion, the same pricing as a query (nothing stored or published), so the
 * storefront can show a code's discount, or why it gives none, before checkout.
 *
 * The Cart API derives the idempotency key from the cart and what it asks, so a retried checkout
 * replays the stored reply and publishes nothing new; the event id is derived from (cart, key), so
 * even a re-send after a crash is one event.
 */
import { Command, Event, Query, Stream } from '../../contracts/subjects.ts';
import {
  MessageType,
  requestContract,
  QuotePromotionRequest,
  type DiscountCalculated,
  type QuotePromotionResponse,
} from '../../contracts/index.ts';
import { uuidv5 } from '../../runtime/ids.ts';
import type { ServiceRuntime } from '../../runtime/service.ts';
import { loadSeed, type SeedPromotion } from '../seed/seed.ts';
import { promotionLookup, seedPromotionsOnce } from './schema.ts';
import { normaliseCode, quote } from './rules.ts';
import { serveStateless } from './stateless.ts';

export { promotionMigrations } from './schema.ts';

/** Namespace of discount-calculated event ids. */
const DISCOUNT_EVENT_NS = '9d2c4b6a-1e3f-4a5b-8c7d-6e5f4a3b2c11';

export const discountCalculatedEventId = (cartId: string, idempotencyKey: string): string =>
  uuidv5(`${cartId}/${idempotencyKey}`, DISCOUNT_EVENT_NS);

export interface PromotionServiceConfig {
  /** Loaded into an empty store at first start; defaults to `loadSeed()`. */
  seed?: { promotions: readonly SeedPromotion[] } | undefined;
}

export async function startPromotionService(
  rt: ServiceRuntime,
  config: PromotionServiceConfig = {},
): Promise<void> {
  await seedPromotionsOnce(rt.store, (config.seed ?? loadSeed()).promotions);
  await rt.transport.ensureStream(Stream.shopping.name, Stream.shopping.subjects);
  const lookup = promotionLookup(rt.store.db);
  await serveQuotes(rt, lookup);

  await serveStateless(rt, {
    ...requestContract(Command.calculateDiscount, MessageType.calculateDiscountRequest),
    scope: (p) => p.cartId,
    handle: (p, _meta, { now, key }) => {
      const code = normaliseCode(p.promotionCode);
      const q = quote(code === undefined ? undefined : lookup(code), p, now);
      const event: DiscountCalculated = {
        eventId: discountCalculatedEventId(p.cartId, key),
        occurredAt: new Date(now).toISOString(),
        cartId: p.cartId,
        discount: q.discount,
        currency: p.currency,
        appliedPromotions: q.appliedPromotions ?? [],
      };
      return {
        reply: { type: MessageType.calculateDiscountResponse, payload: q },
        publish: [
          {
            subject: Event.discountCalculated,
            type: MessageType.discountCalculated,
            payload: event,
            messageId: event.eventId,
          },
        ],
      };
    },
  });
}

/** Registers quote-promotion: calculate-discount's pricing, answered without a trace. */
async function serveQuotes(rt: ServiceRuntime, lookup: ReturnType<typeof promotionLookup>): Promise<void> {
  await rt.query(Query.quotePromotion, MessageType.quotePromotionRequest, QuotePromotionRequest, (p, meta) => {
    const code = normaliseCode(p.promotionCode);
    const rule = code === undefined ? undefined : lookup(code);
    const q = quote(rule, p, rt.clock.now());
    const reason = q.rejectedCode?.reason;
    const answer: QuotePromotionResponse = {
      promotionCode: q.rejectedCode?.code ?? q.appliedPromotions?.[0] ?? p.promotionCode.trim(),
      discount: q.discount,
      appliedPromotions: q.appliedPromotions ?? [],
      ...(reason !== undefined ? { rejectedReason: reason } : {}),
      ...(reason === 'MIN_SPEND_NOT_MET' && rule?.minSpend != null ? { minSpend: rule.minSpend } : {}),
    };
    return rt.reply(MessageType.quotePromotionResponse, answer, meta);
  });
}
