import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DiscountCalculated, MessageType, type CalculateDiscountRequest } from '../../src/contracts/index.ts';
import { Command, Event, Stream } from '../../src/contracts/subjects.ts';
import { DiscountQuote } from '../../src/actors/promotion/messages.ts';
import { promotionMigrations } from '../../src/actors/promotion/schema.ts';
import {
  discountCalculatedEventId,
  startPromotionService,
} from '../../src/actors/promotion/service.ts';
import type { Seed, SeedPromotion } from '../../src/actors/seed/seed.ts';
import { serviceSources } from '../../src/registry.ts';
import { ServiceClient } from '../../src/runtime/client.ts';
import { ManualClock } from '../../src/runtime/clock.ts';
import { newId, uuidv5 } from '../../src/runtime/ids.ts';
import { ServiceRuntime } from '../../src/runtime/service.ts';
import { Store } from '../../src/runtime/store.ts';
import { RemoteError } from '../../src/runtime/transport/errors.ts';
import { InProcessTransport } from '../../src/runtime/transport/in-process/in-process.ts';
import type { Delivery } from '../../src/runtime/transport/transport.ts';
import { eventually } from '../support/waiting.ts';

const NS = '0f0e0d0c-0b0a-4908-8706-050403020100';
const promo = (
  code: string,
  p: Partial<SeedPromotion> & Pick<SeedPromotion, 'type' | 'value'>,
): SeedPromotion => ({
  promotionId: uuidv5(code, NS),
  code,
  startsAt: '2025-01-01T00:00:00Z',
  active: true,
  ...p,
});

const NOW = Date.parse('2026-01-01T00:00:00Z');
const seed: Seed = {
  products: [],
  promotions: [
    promo('PCT15', { type: 'PERCENTAGE', value: 15 }),
    promo('TENOFF', { type: 'FIXED_AMOUNT', value: 1_000, minSpend: 5_000 }),
    promo('BIGOFF', { type: 'FIXED_AMOUNT', value: 50_000 }),
    promo('SOON', { type: 'PERCENTAGE', value: 20, startsAt: '2026-02-01T00:00:00Z' }),
    promo('ENDING', { type: 'PERCENTAGE', value: 20, endsAt: '2026-01-01T01:00:00Z' }),
    promo('PAUSED', { type: 'PERCENTAGE', value: 20, active: false }),
  ],
};

interface World {
  clock: ManualClock;
  transport: InProcessTransport;
  rt: ServiceRuntime;
  client: ServiceClient;
  stream: Delivery[];
}

async function startPromotion(
  dir: string,
  clock: ManualClock,
  transport: InProcessTransport,
  withSeed: Seed = seed,
): Promise<ServiceRuntime> {
  const store = new Store({ path: join(dir, 'promotion.db'), migrations: promotionMigrations });
  const rt = new ServiceRuntime({ service: 'promotion', source: serviceSources.promotion, store, transport, clock });
  await startPromotionService(rt, { seed: withSeed });
  await rt.start();
  return rt;
}

async function open(dir: string): Promise<World> {
  const clock = new ManualClock(NOW);
  const transport = new InProcessTransport({ path: join(dir, 'bus.db') });
  const rt = await startPromotion(dir, clock, transport);
  const stream: Delivery[] = [];
  await transport.ensureStream(Stream.shopping.name, Stream.shopping.subjects);
  await transport.consume(
    {
      stream: Stream.shopping.name,
      durable: 'test-discounts',
      filterSubjects: [Event.discountCalculated],
      ackWaitMs: 5_000,
    },
    async (d) => void stream.push(d),
  );
  return { clock, transport, rt, stream, client: new ServiceClient(transport, 'urn:test', clock) };
}

const calculate = (
  w: World,
  req: Partial<CalculateDiscountRequest> & Record<string, unknown>,
  key: string = newId(),
) =>
  w.client
    .call(
      Command.calculateDiscount,
      MessageType.calculateDiscountRequest,
      { cartId: newId(), currency: 'USD', subtotal: 10_000, ...req },
      DiscountQuote,
      {
        timeoutMs: 5_000,
        idempotencyKey: key,
      },
    )
    .then((r) => r.payload);

const events = (w: World) => w.stream.map((d) => DiscountCalculated.parse(JSON.parse(d.data)));
const count = (w: World, table: string) =>
  w.rt.store.db.prepare(`SELECT count(*) FROM ${table}`).pluck().get() as number;

describe('promotion', () => {
  let dir: string;
  let w: World;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'promotion-'));
    w = await open(dir);
  });

  afterEach(async () => {
    await w.rt.stop();
    await w.transport.drain();
    await rm(dir, { recursive: true, force: true });
  });

  describe('when a percentage code is applied', () => {
    it('rounds the discount down to a whole minor unit, whatever the case of the code', async () => {
      expect(await calculate(w, { subtotal: 999, promotionCode: 'PCT15' })).toEqual({
        discount: 149,
        appliedPromotions: ['PCT15'],
      });
      expect(await calculate(w, { subtotal: 999, promotionCode: ' pct15 ' })).toEqual({
        discount: 149,
        appliedPromotions: ['PCT15'],
      });
    });

    it('applies in any currency', async () => {
      expect(await calculate(w, { subtotal: 1_000, currency: 'EUR', promotionCode: 'PCT15' })).toMatchObject({
        discount: 150,
      });
    });
  });

  describe('when a fixed-amount code is applied', () => {
    it('applies from its minimum spend, and never discounts more than the subtotal', async () => {
      expect(await calculate(w, { subtotal: 4_999, promotionCode: 'TENOFF' })).toEqual({
        discount: 0,
        appliedPromotions: [],
        rejectedCode: { code: 'TENOFF', reason: 'MIN_SPEND_NOT_MET' },
      });
      expect(await calculate(w, { subtotal: 5_000, promotionCode: 'TENOFF' })).toEqual({
        discount: 1_000,
        appliedPromotions: ['TENOFF'],
      });
      expect(await calculate(w, { subtotal: 1_234, promotionCode: 'BIGOFF' })).toEqual({
        discount: 1_234,
        appliedPromotions: ['BIGOFF'],
      });
    });

    it('does not apply to a cart in another currency', async () => {
      expect(await calculate(w, { subtotal: 9_000, currency: 'EUR', promotionCode: 'TENOFF' })).toMatchObject(
        {
          discount: 0,
          rejectedCode: { reason: 'CURRENCY_MISMATCH' },
        },
      );
    });
  });

  describe('when the code does not apply', () => {
    it.each([
      ['NOPE', 'UNKNOWN_CODE'],
      ['SOON', 'NOT_STARTED'],
      ['PAUSED', 'INACTIVE'],
    ])('gives %s no discount and says %s', async (code, reason) => {
      expect(await calculate(w, { promotionCode: code })).toEqual({
        discount: 0,
        appliedPromotions: [],
        rejectedCode: { code, reason },
      });
    });

    it('expires a code at its endsAt, by the service clock', async () => {
      expect(await calculate(w, { promotionCode: 'ENDING' })).toMatchObject({ discount: 2_000 });
      w.clock.advance(60 * 60 * 1000);
      expect(await calculate(w, { promotionCode: 'ENDING' })).toEqual({
        discount: 0,
        appliedPromotions: [],
        rejectedCode: { code: 'ENDING', reason: 'EXPIRED' },
      });
    });

    it('gives no discount and no rejection when there is no code', async () => {
      expect(await calculate(w, {})).toEqual({ discount: 0, appliedPromotions: [] });
      expect(await calculate(w, { promotionCode: '  ' })).toEqual({ discount: 0, appliedPromotions: [] });
    });
  });

  describe('when a discount is calculated', () => {
    it('publishes discount-calculated with an event id derived from the cart and the idempotency key', async () => {
      const cartId = newId();
      const key = `${cartId}:calculate-discount:1`;
      await calculate(w, { cartId, subtotal: 2_000, promotionCode: 'PCT15' }, key);
      await eventually(() => expect(events(w)).toHaveLength(1));
      expect(events(w)[0]).toEqual({
        eventId: discountCalculatedEventId(cartId, key),
        occurredAt: new Date(NOW).toISOString(),
        cartId,
        discount: 300,
        currency: 'USD',
        appliedPromotions: ['PCT15'],
      });
      expect(w.stream[0]?.headers['ce-type']).toBe(MessageType.discountCalculated);
    });

    it('replays the stored reply for a repeated idempotency key, and publishes once', async () => {
      const cartId = newId();
      const key = newId();
      const first = await calculate(w, { cartId, promotionCode: 'ENDING' }, key);
      w.clock.advance(2 * 60 * 60 * 1000); // ENDING has expired by now, but a retry answers as the first time
      const again = await Promise.all(
        [1, 2, 3].map(() => calculate(w, { cartId, promotionCode: 'ENDING' }, key)),
      );
      expect(again).toEqual([first, first, first]);
      const other = await calculate(w, { cartId, promotionCode: 'ENDING' }, newId());
      expect(other).toMatchObject({ discount: 0 });
      await eventually(() => expect(events(w)).toHaveLength(2));
      await new Promise((r) => setTimeout(r, 150));
      expect(events(w).map((e) => e.discount)).toEqual([2_000, 0]);
    });
  });

  describe('when the request is bad', () => {
    it.each([
      ['a negative subtotal', { subtotal: -1 }],
      ['a fractional subtotal', { subtotal: 10.5 }],
      ['a lowercase currency', { currency: 'usd' }],
      ['a cartId that is not a uuid', { cartId: 'cart-1' }],
    ])('answers BAD_REQUEST for %s and records nothing', async (_what, req) => {
      const err = await calculate(w, { promotionCode: 'PCT15', ...req }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(RemoteError);
      expect((err as RemoteError).code).toBe('BAD_REQUEST');
      expect(count(w, 'journal')).toBe(0); // no inbox key, no event: no record
    });
  });

  describe('when the service restarts', () => {
    it('loads the seed only at first start, and replays stored replies', async () => {
      const key = newId();
      const cartId = newId();
      const first = await calculate(w, { cartId, promotionCode: 'PCT15' }, key);
      await w.rt.stop();
      w.rt = await startPromotion(dir, w.clock, w.transport, { products: [], promotions: [] });
      expect(await calculate(w, { promotionCode: 'TENOFF' })).toMatchObject({ discount: 1_000 });
      expect(await calculate(w, { cartId, promotionCode: 'PCT15' }, key)).toEqual(first);
      expect(count(w, 'promotions')).toBe(seed.promotions.length);
    });
  });
});
