/**
 * Ordering: the Checkout API and its orchestrator (checkout-system). The catalog gives the
 * orchestrator no messages of its own to receive, so everything here is ours (decision 4: the
 * checkout's progress is its own resource, `GET /checkouts/{checkoutId}`).
 */
import { z } from 'zod';
import { Currency, DateTime, Money, Uuid } from './common.ts';
import { CancellationDetail, CancellationReason } from './order.ts';

export const CheckoutState = z.enum(['PENDING', 'CONFIRMED', 'CANCELLED', 'NEEDS_ATTENTION']);
export type CheckoutState = z.infer<typeof CheckoutState>;

export const CheckoutStep = z.enum([
  'RESERVING_INVENTORY',
  'AUTHORIZING_PAYMENT',
  'CREATING_ORDER',
  'COMPENSATING',
  'DONE',
]);
export type CheckoutStep = z.infer<typeof CheckoutStep>;

/**
 * The checkout status document: the reply to get-checkout
 * and the value in the `checkouts` KV bucket.
 * - `reason`: the catalog's cancellation reason, set when CANCELLED;
 * - `detail`: the precise cause;
 * - `reasonText`: the same in plain words, for the shopper.
 */
export const CheckoutStatus = z.object({
  checkoutId: Uuid,
  orderId: Uuid,
  cartId: Uuid,
  customerId: Uuid,
  status: CheckoutState,
  step: CheckoutStep,
  reason: CancellationReason.optional(),
  detail: CancellationDetail.optional(),
  reasonText: z.string().optional(),
  total: Money.optional(),
  currency: Currency.optional(),
  updatedAt: DateTime,
});
export type CheckoutStatus = z.infer<typeof CheckoutStatus>;

/** `get-checkout` query. Replies with a {@link CheckoutStatus}. */
export const GetCheckoutRequest = z.object({
  checkoutId: Uuid,
});
export type GetCheckoutRequest = z.infer<typeof GetCheckoutRequest>;

// ---- Explorer queries (developers' tools, not shopper-facing) ------------------------------
// The live saga explorer reads the orchestrator's sagas over the transport. These messages are
// diagnostics, outside the catalog and the public API, so they have their own type registry.

export const ExplorerMessageType = {
  listCheckoutsRequest: 'list-checkouts.request',
  listCheckoutsResponse: 'list-checkouts.response',
  getCheckoutTraceRequest: 'get-checkout-trace.request',
  getCheckoutTraceResponse: 'get-checkout-trace.response',
} as const;
export type ExplorerMessageType = (typeof ExplorerMessageType)[keyof typeof ExplorerMessageType];

/** A dotted state path, `compensating.voidingPayment`; matches that state and those inside it. */
export const StatePath = z.string().regex(/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/).max(200);

/** `list-checkouts` query: most recently updated first, keyset-paginated. */
export const ListCheckoutsRequest = z.object({
  state: StatePath.optional(),
  /** Only sagas not yet in a final state (needs-attention ones included). */
  inFlight: z.boolean().optional(),
  limit: z.int().min(1).max(200).default(50),
  cursor: z.string().max(200).optional(),
  /** A checkout, order, cart or customer id, or a short order number (`ACME-7K3F-Q9TX`). */
  q: z.string().trim().min(1).max(100).optional(),
});
export type ListCheckoutsRequest = z.input<typeof ListCheckoutsRequest>;
/** A list request as parsed, defaults applied. */
export type ListCheckoutsQuery = z.output<typeof ListCheckoutsRequest>;

/** The actor's xstate status: `active` until a final state, then `done`. */
export const ActorStatus = z.enum(['active', 'done', 'error', 'stopped']);

export const CheckoutSummary = z.object({
  checkoutId: Uuid,
  /** Dotted path of the current state (regions of a parallel state joined by ` | `). */
  state: z.string(),
  status: ActorStatus,
  /** Events applied so far. */
  seq: z.int().min(0),
  machineVersion: z.string(),
  createdAt: DateTime,
  updatedAt: DateTime,
  cartId: z.string().optional(),
  orderId: z.string().optional(),
  customerId: z.string().optional(),
  total: Money.optional(),
  currency: Currency.optional(),
  failure: z.string().nullable().optional(),
});
export type CheckoutSummary = z.infer<typeof CheckoutSummary>;

export const ListCheckoutsResponse = z.object({
  checkouts: z.array(CheckoutSummary),
  nextCursor: z.string().optional(),
  /** How many sagas are in flight in each state, for the explorer's filter. */
  facets: z.array(z.object({ state: z.string(), status: ActorStatus, count: z.int().min(0) })),
  /** Orchestrator instances that registered but did not answer: their sagas are missing from the page. */
  unreachable: z.array(z.string()).optional(),
});
export type ListCheckoutsResponse = z.infer<typeof ListCheckoutsResponse>;

/** `get-checkout-trace` query. */
export const GetCheckoutTraceRequest = z.object({ checkoutId: Uuid });
export type GetCheckoutTraceRequest = z.infer<typeof GetCheckoutTraceRequest>;

const EventObject = z.looseObject({ type: z.string() });
const Action = z.object({ type: z.string(), params: z.json().optional() });

/** One event the host applied: what it was, what caused it, where it led and what it did. */
export const JournalStep = z.object({
  seq: z.int().min(1),
  at: DateTime,
  event: EventObject,
  from: z.json().nullable(),
  to: z.json(),
  actions: z.array(Action),
  /** Id of the message that carried the event (none for a timer). */
  messageId: z.string().nullable(),
  causationId: z.string().nullable(),
});
export type JournalStep = z.infer<typeof JournalStep>;

export const ArmedTimer = z.object({ name: z.string(), dueAt: DateTime, event: z.json(), armedAtSeq: z.int() });

export const OutboxMessage = z.object({
  messageId: z.string(),
  mode: z.enum(['publish', 'request', 'kv']),
  subject: z.string(),
  type: z.string().optional(),
  idempotencyKey: z.string().optional(),
  slot: z.string().optional(),
  status: z.enum(['pending', 'sent', 'cancelled']),
  attempts: z.int().min(0),
  nextAttemptAt: DateTime,
  lastError: z.string().optional(),
  createdAt: DateTime,
  sentAt: DateTime.optional(),
  payload: z.json(),
});
export type OutboxMessage = z.infer<typeof OutboxMessage>;

/** Undo steps: registered once their forward step was attempted, pending until done. */
export const CompensationPlan = z.object({
  registered: z.array(z.string()),
  started: z.boolean(),
  done: z.array(z.string()),
  pending: z.array(z.string()),
});
export type CompensationPlan = z.infer<typeof CompensationPlan>;

export const CheckoutTrace = z.object({
  checkoutId: Uuid,
  machineVersion: z.string(),
  status: ActorStatus,
  state: z.string(),
  stateValue: z.json(),
  seq: z.int().min(0),
  createdAt: DateTime,
  updatedAt: DateTime,
  context: z.record(z.string(), z.json()),
  journal: z.array(JournalStep),
  /** The journal is cut at 1,000 events. */
  journalTruncated: z.boolean(),
  timers: z.array(ArmedTimer),
  /** Every message this saga wrote to its outbox, sent or not. */
  outbox: z.array(OutboxMessage),
  compensation: CompensationPlan,
  participants: z.object({
    orderId: z.string(),
    reservationId: z.string(),
    authorizationId: z.string().nullable(),
  }),
});
export type CheckoutTrace = z.infer<typeof CheckoutTrace>;
