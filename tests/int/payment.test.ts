import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  GetPaymentResponse,
  MessageType,
  PaymentAuthorized,
  PaymentDeclined,
  PaymentVoided,
} from '../../src/contracts/index.ts';
import { Command, Event, Query } from '../../src/contracts/subjects.ts';
import { serviceSources } from '../../src/registry.ts';
import { authorizationStates, paymentMigrations } from '../../src/actors/payment/schema.ts';
import { startPaymentService } from '../../src/actors/payment/service.ts';
import {
  createSimulator,
  defaultSimulatorRules,
  simulatorRoll,
  simulatorRulesFromEnv,
  type Simulator,
  type SimulatorRules,
} from '../../src/actors/payment/simulator.ts';
import { ServiceClient } from '../../src/runtime/client.ts';
import { systemClock } from '../../src/runtime/clock.ts';
import { checkoutIdsFor, IdNamespace, newId, uuidv5 } from '../../src/runtime/ids.ts';
import { ServiceRuntime } from '../../src/runtime/service.ts';
import { Store } from '../../src/runtime/store.ts';
import { RemoteError } from '../../src/runtime/transport/errors.ts';
import { InProcessTransport } from '../../src/runtime/transport/in-process/in-process.ts';
import type { Message } from '../../src/runtime/transport/transport.ts';
import { eventually, publishEvent, settle } from '../support/waiting.ts';

const SHOPPER = '55555555-5555-4555-8555-555555555555';
const FRAUDSTER = '66666666-6666-4666-8666-666666666666';
const SLOWPOKE = '77777777-7777-4777-8777-777777777777';
const LIMIT = 10_000;

const rules: SimulatorRules = {
  ...defaultSimulatorRules,
  declineAbove: LIMIT,
  fraudCustomers: [FRAUDSTER],
  stallCustomers: [SLOWPOKE],
  stallMs: 300,
};

const newCart = (): string => newId();
const orderOf = (cartId: string): string => checkoutIdsFor(cartId).orderId;
const authorizationOf = (orderId: string): string => uuidv5(orderId, IdNamespace.authorization);

interface World {
  dir: string;
  transport: InProcessTransport;
  rt: ServiceRuntime;
  client: ServiceClient;
  processor: Simulator;
  published: Message[];
}

async function open(dir: string, withRules: SimulatorRules = rules): Promise<World> {
  const transport = new InProcessTransport({ path: join(dir, 'bus.db') });
  const store = new Store({ path: join(dir, 'payment.db'), migrations: paymentMigrations });
  const rt = new ServiceRuntime({ service: 'payment', source: serviceSources.payment, store, transport });
  const processor = createSimulator(withRules);
  await startPaymentService(rt, { processor });
  await rt.start();
  const published: Message[] = [];
  await transport.subscribeAll('payments.evt.>', (m) => published.push(m));
  return {
    dir,
    transport,
    rt,
    client: new ServiceClient(transport, 'urn:test', systemClock),
    processor,
    published,
  };
}

async function close(w: World): Promise<void> {
  await w.rt.stop();
  await w.transport.drain();
}

type AuthorizeOutcome =
  | { type: 'payment-authorized'; body: PaymentAuthorized }
  | { type: 'payment-declined'; body: PaymentDeclined };

async function authorize(
  w: World,
  payload: object,
  idempotencyKey: string = newId(),
): Promise<AuthorizeOutcome> {
  const r = await w.client.call(
    Command.authorizePayment,
    MessageType.authorizePayment,
    payload,
    z.unknown(),
    {
      timeoutMs: 10_000,
      idempotencyKey,
      // One attempt: these cases read the Payment API's own answer (an UNAVAILABLE is not asked again).
      retry: false,
    },
  );
  if (r.meta?.type === MessageType.paymentAuthorized)
    return { type: 'payment-authorized', body: PaymentAuthorized.parse(r.payload) };
  if (r.meta?.type === MessageType.paymentDeclined)
    return { type: 'payment-declined', body: PaymentDeclined.parse(r.payload) };
  throw new Error(`unexpected reply type ${r.meta?.type}`);
}

const order = (cartId: string, amount = 4_200, customerId = SHOPPER) => ({
  cartId,
  customerId,
  amount,
  currency: 'USD',
});

async function voidPayment(
  w: World,
  payload: object,
  idempotencyKey: string = newId(),
): Promise<PaymentVoided> {
  const r = await w.client.call(
    Command.voidPayment,
    MessageType.voidPayment,
    { reason: 'CHECKOUT_FAILED', ...payload },
    PaymentVoided,
    {
      timeoutMs: 10_000,
      idempotencyKey,
      // One attempt: these cases read the Payment API's own answer (an UNAVAILABLE is not asked again).
      retry: false,
    },
  );
  expect(r.meta?.type).toBe(MessageType.paymentVoided);
  return r.payload;
}

async function payment(w: World, orderId: string): Promise<GetPaymentResponse> {
  const r = await w.client.call(
    Query.getPayment,
    MessageType.getPaymentRequest,
    { orderId },
    GetPaymentResponse,
    { timeoutMs: 10_000 },
  );
  return r.payload;
}

async function failure(p: Promise<unknown>): Promise<RemoteError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(RemoteError);
  return err as RemoteError;
}


const subjects = (w: World) => w.published.map((m) => m.subject);

describe('payment api', () => {
  let dir: string;
  let w: World;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'payment-'));
    w = await open(dir);
  });

  afterEach(async () => {
    await close(w);
    await rm(dir, { recursive: true, force: true });
  });

  describe('when the processor approves', () => {
    it('authorizes the order derived from the cart, with the derived authorizationId, and announces it', async () => {
      const cartId = newCart();
      const orderId = orderOf(cartId);
      const r = await authorize(w, order(cartId));
      expect(r).toMatchObject({
        type: 'payment-authorized',
        body: {
          orderId,
          cartId,
          customerId: SHOPPER,
          amount: 4_200,
          currency: 'USD',
          authorizationId: authorizationOf(orderId),
        },
      });
      expect(await payment(w, orderId)).toEqual({
        orderId,
        authorizationId: authorizationOf(orderId),
        status: 'AUTHORIZED',
        amount: 4_200,
        currency: 'USD',
      });
      expect(authorizationStates(w.rt.store.db).get(orderId)).toBe('AUTHORIZED');
      await eventually(() => expect(subjects(w)).toEqual([Event.paymentAuthorized]));
      expect(PaymentAuthorized.parse(JSON.parse(w.published[0]!.data))).toEqual(r.body);
    });

    it('uses the orderId it is given instead of deriving one', async () => {
      const orderId = newId();
      const r = await authorize(w, { ...order(newCart()), orderId });
      expect(r.body.orderId).toBe(orderId);
      expect(r.type === 'payment-authorized' && r.body.authorizationId).toBe(authorizationOf(orderId));
    });
  });

  describe('when the amount is above the configured limit', () => {
    it('declines it with reason DECLINED, and approves one exactly at the limit', async () => {
      const above = await authorize(w, order(newCart(), LIMIT + 1));
      expect(above).toMatchObject({ type: 'payment-declined', body: { reason: 'DECLINED' } });
      expect(await payment(w, above.body.orderId)).toEqual({
        orderId: above.body.orderId,
        status: 'DECLINED',
        amount: LIMIT + 1,
        currency: 'USD',
      });
      expect((await authorize(w, order(newCart(), LIMIT))).type).toBe('payment-authorized');
      await eventually(() => expect(subjects(w)).toEqual([Event.paymentDeclined, Event.paymentAuthorized]));
    });
  });

  describe('when the customer is on the fraud list', () => {
    it('declines with reason FRAUD', async () => {
      const r = await authorize(w, order(newCart(), 100, FRAUDSTER));
      expect(r).toMatchObject({ type: 'payment-declined', body: { reason: 'FRAUD' } });
      expect(authorizationStates(w.rt.store.db).get(r.body.orderId)).toBe('DECLINED');
    });
  });

  describe('when the processor has an outage', () => {
    it('replies UNAVAILABLE, and a retry with the same key succeeds and charges once', async () => {
      await close(w);
      w = await open(dir, { ...rules, transientFailureRate: 0.5 });
      // Deterministic: an order whose first attempt fails and whose second succeeds.
      let cartId = newCart();
      for (let i = 0; ; i++) {
        cartId = uuidv5(`flaky-${i}`, IdNamespace.checkout);
        const orderId = orderOf(cartId);
        if (simulatorRoll(orderId, 1) < 0.5 && simulatorRoll(orderId, 2) >= 0.5) break;
      }
      const orderId = orderOf(cartId);
      const key = `${checkoutIdsFor(cartId).checkoutId}:authorize-payment`;

      expect((await failure(authorize(w, order(cartId), key))).code).toBe('UNAVAILABLE');
      expect((await failure(payment(w, orderId))).code).toBe('NOT_FOUND');

      const retried = await authorize(w, order(cartId), key);
      expect(retried.type).toBe('payment-authorized');
      expect(await authorize(w, order(cartId), key)).toEqual(retried);
      expect(w.processor.attempts(orderId)).toBe(2);
      expect(w.processor.approvals(orderId)).toBe(1);
      await eventually(() => expect(subjects(w)).toEqual([Event.paymentAuthorized]));
    });

    it('changes nothing while the outage lasts', async () => {
      await close(w);
      w = await open(dir, { ...rules, transientFailureRate: 1 });
      const cartId = newCart();
      for (let i = 0; i < 3; i++)
        expect((await failure(authorize(w, order(cartId), 'same-key'))).code).toBe('UNAVAILABLE');
      expect(authorizationStates(w.rt.store.db).size).toBe(0);
      await settle();
      expect(w.published).toEqual([]);
    });
  });

  describe('when an authorize is repeated', () => {
    it('replays the stored reply for the same key, and answers a new key from state without asking the processor', async () => {
      const cartId = newCart();
      const orderId = orderOf(cartId);
      const first = await authorize(w, order(cartId), 'key-1');
      expect(await authorize(w, order(cartId), 'key-1')).toEqual(first);
      expect(await authorize(w, order(cartId), 'key-2')).toEqual(first);
      expect(w.processor.attempts(orderId)).toBe(1);
      await settle();
      expect(subjects(w)).toEqual([Event.paymentAuthorized]);
    });

    it('keeps a decline a decline', async () => {
      const cartId = newCart();
      const first = await authorize(w, order(cartId, LIMIT + 1));
      expect(await authorize(w, order(cartId, 1))).toEqual(first);
      expect(w.processor.attempts(orderOf(cartId))).toBe(1);
    });
  });

  describe('when a payment is voided', () => {
    it('voids an authorization once, announcing it once, however often asked', async () => {
      const cartId = newCart();
      const orderId = orderOf(cartId);
      await authorize(w, order(cartId));
      const first = await voidPayment(w, { orderId, authorizationId: authorizationOf(orderId) });
      expect(first).toMatchObject({ orderId, authorizationId: authorizationOf(orderId) });
      expect(await voidPayment(w, { orderId })).toEqual(first);
      expect(await payment(w, orderId)).toMatchObject({
        status: 'VOIDED',
        authorizationId: authorizationOf(orderId),
        amount: 4_200,
      });
      await eventually(() => expect(subjects(w)).toEqual([Event.paymentAuthorized, Event.paymentVoided]));
      await settle();
      expect(subjects(w)).toEqual([Event.paymentAuthorized, Event.paymentVoided]);
    });

    it('succeeds for an order it never authorized, leaving a tombstone and announcing nothing', async () => {
      const orderId = newId();
      const r = await voidPayment(w, { orderId });
      expect(r.orderId).toBe(orderId);
      expect(r.authorizationId).toBeUndefined();
      expect(await payment(w, orderId)).toEqual({ orderId, status: 'VOIDED' });
      await settle();
      expect(w.published).toEqual([]);
    });

    it('keeps a declined payment DECLINED', async () => {
      const r = await authorize(w, order(newCart(), 1, FRAUDSTER));
      expect((await voidPayment(w, { orderId: r.body.orderId })).authorizationId).toBeUndefined();
      expect(await payment(w, r.body.orderId)).toMatchObject({ status: 'DECLINED' });
    });
  });

  describe('when an authorize arrives after the void', () => {
    it('declines it with reason VOIDED and never authorizes', async () => {
      const cartId = newCart();
      const orderId = orderOf(cartId);
      await voidPayment(w, { orderId });
      const late = await authorize(w, order(cartId));
      expect(late).toMatchObject({ type: 'payment-declined', body: { orderId, cartId, reason: 'VOIDED' } });
      expect(w.processor.attempts(orderId)).toBe(0);
      expect(await payment(w, orderId)).toEqual({ orderId, status: 'VOIDED' });
      await settle();
      expect(w.published).toEqual([]);
    });
  });

  describe('when a void arrives while the processor is still deciding', () => {
    it('waits for the authorization and then voids it', async () => {
      const cartId = newCart();
      const orderId = orderOf(cartId);
      const authorizing = authorize(w, order(cartId, 4_200, SLOWPOKE));
      await eventually(() => expect(w.processor.attempts(orderId)).toBe(1));
      expect(await payment(w, orderId)).toEqual({ orderId, status: 'PENDING' });

      const voided = await voidPayment(w, { orderId });
      expect((await authorizing).type).toBe('payment-authorized');
      expect(voided.authorizationId).toBe(authorizationOf(orderId));
      expect(await payment(w, orderId)).toMatchObject({ status: 'VOIDED' });
      await eventually(() => expect(subjects(w)).toEqual([Event.paymentAuthorized, Event.paymentVoided]));
    });
  });

  describe('when an order is cancelled', () => {
    it('voids its authorization once, even if the event is redelivered', async () => {
      const cartId = newCart();
      const orderId = orderOf(cartId);
      await authorize(w, order(cartId));
      const cancelled = {
        orderId,
        customerId: SHOPPER,
        reason: 'CUSTOMER_REQUESTED',
        cancelledAt: new Date().toISOString(),
      };
      const eventId = newId();
      await publishEvent(w.transport, Event.orderCancelled, MessageType.orderCancelled, cancelled, eventId);
      await publishEvent(w.transport, Event.orderCancelled, MessageType.orderCancelled, cancelled, eventId);
      await eventually(() => expect(authorizationStates(w.rt.store.db).get(orderId)).toBe('VOIDED'));
      await eventually(() => expect(subjects(w)).toEqual([Event.paymentAuthorized, Event.paymentVoided]));
      await settle();
      expect(subjects(w)).toEqual([Event.paymentAuthorized, Event.paymentVoided]);
    });

    it('leaves an order it never saw alone', async () => {
      const orderId = newId();
      const known = newCart();
      await publishEvent(w.transport, Event.orderCancelled, MessageType.orderCancelled, {
        orderId,
        reason: 'OUT_OF_STOCK',
        cancelledAt: new Date().toISOString(),
      });
      // A later event on the same consumer proves the first one was handled (and acked).
      await authorize(w, order(known));
      await publishEvent(w.transport, Event.orderCancelled, MessageType.orderCancelled, {
        orderId: orderOf(known),
        reason: 'CUSTOMER_REQUESTED',
        cancelledAt: new Date().toISOString(),
      });
      await eventually(() => expect(authorizationStates(w.rt.store.db).get(orderOf(known))).toBe('VOIDED'));
      expect((await failure(payment(w, orderId))).code).toBe('NOT_FOUND');
    });
  });

  describe('when an order is completed', () => {
    it('captures its authorization, announces it, and refuses to void it afterwards', async () => {
      const cartId = newCart();
      const orderId = orderOf(cartId);
      await authorize(w, order(cartId));
      await publishEvent(w.transport, Event.orderCompleted, MessageType.orderCompleted, {
        orderId,
        customerId: SHOPPER,
        completedAt: new Date().toISOString(),
      });
      await eventually(() => expect(authorizationStates(w.rt.store.db).get(orderId)).toBe('CAPTURED'));
      await eventually(() => expect(subjects(w)).toEqual([Event.paymentAuthorized, Event.paymentCaptured]));
      expect(JSON.parse(w.published[1]!.data)).toMatchObject({
        orderId,
        authorizationId: authorizationOf(orderId),
        amount: 4_200,
        currency: 'USD',
      });
      expect(await payment(w, orderId)).toMatchObject({ status: 'CAPTURED' });
      expect((await failure(voidPayment(w, { orderId }))).code).toBe('CONFLICT');
    });
  });

  describe('when the input is bad', () => {
    it.each([
      ['a negative amount', { cartId: newId(), amount: -1, currency: 'USD' }],
      ['a fractional amount', { cartId: newId(), amount: 1.5, currency: 'USD' }],
      ['no cartId', { amount: 100, currency: 'USD' }],
      ['a lowercase currency', { cartId: newId(), amount: 100, currency: 'usd' }],
      [
        'an orderId that is not a uuid',
        { cartId: newId(), amount: 100, currency: 'USD', orderId: 'order-1' },
      ],
    ])('refuses an authorize with %s, and nothing changes', async (_what, payload) => {
      expect((await failure(authorize(w, payload))).code).toBe('BAD_REQUEST');
      expect(authorizationStates(w.rt.store.db).size).toBe(0);
    });

    it("refuses a void naming another order's authorization, and nothing changes", async () => {
      const cartId = newCart();
      const orderId = orderOf(cartId);
      await authorize(w, order(cartId));
      const err = await failure(voidPayment(w, { orderId, authorizationId: authorizationOf(newId()) }));
      expect(err.code).toBe('BAD_REQUEST');
      expect((await failure(voidPayment(w, { orderId, reason: 'BECAUSE' }))).code).toBe('BAD_REQUEST');
      expect(await payment(w, orderId)).toMatchObject({ status: 'AUTHORIZED' });
    });

    it('answers NOT_FOUND for a payment it does not hold', async () => {
      expect((await failure(payment(w, newId()))).code).toBe('NOT_FOUND');
    });
  });

  describe('when the service restarts', () => {
    it('keeps every payment, replays stored replies and never asks the processor again', async () => {
      const authorizedCart = newCart();
      const declinedCart = newCart();
      const tombstone = newId();
      const first = await authorize(w, order(authorizedCart), 'key-a');
      const declined = await authorize(w, order(declinedCart, LIMIT + 1), 'key-d');
      await voidPayment(w, { orderId: tombstone });
      await close(w);

      w = await open(dir);
      expect(authorizationStates(w.rt.store.db)).toEqual(
        new Map([
          [orderOf(authorizedCart), 'AUTHORIZED'],
          [orderOf(declinedCart), 'DECLINED'],
          [tombstone, 'VOIDED'],
        ]),
      );
      expect(await authorize(w, order(authorizedCart), 'key-a')).toEqual(first);
      expect(await authorize(w, order(authorizedCart), 'key-b')).toEqual(first);
      expect(await authorize(w, order(declinedCart, LIMIT + 1), 'key-e')).toEqual(declined);
      expect((await authorize(w, { ...order(newCart()), orderId: tombstone })).body).toMatchObject({
        reason: 'VOIDED',
      });
      expect(w.processor.attempts(orderOf(authorizedCart)) + w.processor.attempts(tombstone)).toBe(0);
      expect(await payment(w, orderOf(authorizedCart))).toMatchObject({ status: 'AUTHORIZED' });
    });
  });
});

describe('payment simulator rules', () => {
  describe('when read from the environment', () => {
    it('reads every knob, trimming lists', () => {
      expect(
        simulatorRulesFromEnv({
          PAYMENT_DECLINE_ABOVE: '5000',
          PAYMENT_FRAUD_CUSTOMERS: ` ${FRAUDSTER} , `,
          PAYMENT_DECLINE_CUSTOMERS: `${SHOPPER},${SLOWPOKE}`,
          PAYMENT_LATENCY_MS: '25',
          PAYMENT_TRANSIENT_FAILURE_RATE: '0.1',
          PAYMENT_STALL_CUSTOMERS: SLOWPOKE,
          PAYMENT_STALL_MS: '20000',
        }),
      ).toEqual({
        declineAbove: 5_000,
        fraudCustomers: [FRAUDSTER],
        declineCustomers: [SHOPPER, SLOWPOKE],
        latencyMs: 25,
        transientFailureRate: 0.1,
        stallCustomers: [SLOWPOKE],
        stallMs: 20_000,
      });
    });

    it('defaults to approving everything at once', () => {
      expect(simulatorRulesFromEnv({ PAYMENT_DECLINE_ABOVE: '' })).toEqual({
        ...defaultSimulatorRules,
        declineAbove: undefined,
      });
    });

    it.each([
      ['PAYMENT_DECLINE_ABOVE', '-1'],
      ['PAYMENT_LATENCY_MS', 'soon'],
      ['PAYMENT_TRANSIENT_FAILURE_RATE', '1.5'],
      ['PAYMENT_STALL_MS', '2.5'],
    ])('refuses %s=%s, naming it', (name, value) => {
      expect(() => simulatorRulesFromEnv({ [name]: value })).toThrow(name);
    });
  });

  describe('when a customer is on the decline list', () => {
    it('declines with reason DECLINED', async () => {
      const sim = createSimulator({ ...defaultSimulatorRules, declineCustomers: [SHOPPER] });
      expect(
        await sim.authorize({ orderId: newId(), customerId: SHOPPER, amount: 1, currency: 'USD' }),
      ).toMatchObject({
        outcome: 'declined',
        reason: 'DECLINED',
      });
    });
  });

  describe('when latency is configured', () => {
    it('sleeps through the injected sleep, then a stall on top for a stalled customer', async () => {
      const slept: number[] = [];
      const sim = createSimulator({ ...rules, latencyMs: 40 }, async (ms) => void slept.push(ms));
      await sim.authorize({ orderId: newId(), customerId: SLOWPOKE, amount: 1, currency: 'USD' });
      expect(slept).toEqual([40, 300]);
    });
  });
});
