/**
 * The default payment processor: a deterministic simulator whose behaviour is configuration, so
 * that every outcome (approve, decline, fraud, outage, a processor slower than the saga's
 * deadline) can be forced by a test or an operator without touching code.
 *
 * Environment (read by `simulatorRulesFromEnv`; unset or empty means the default):
 *   PAYMENT_DECLINE_ABOVE           integer, minor units. Amounts above it are DECLINED. Default: no limit.
 *   PAYMENT_FRAUD_CUSTOMERS         comma-separated customerIds declined with reason FRAUD.
 *   PAYMENT_DECLINE_CUSTOMERS       comma-separated customerIds declined with reason DECLINED.
 *   PAYMENT_LATENCY_MS              integer ms every authorization takes. Default 0.
 *   PAYMENT_TRANSIENT_FAILURE_RATE  0..1: the share of attempts that fail as an outage (the caller
 *                                   gets UNAVAILABLE and retries). Decided by a hash of
 *                                   (orderId, attempt number), not Math.random, so a run replays
 *                                   exactly. Default 0.
 *   PAYMENT_STALL_CUSTOMERS         comma-separated customerIds whose authorizations take
 *                                   PAYMENT_STALL_MS (then are decided as usual), to model a
 *                                   processor slower than the saga's deadline.
 *   PAYMENT_STALL_MS                integer ms of a stall. Default 30000.
 *
 * Order of the rules: latency, stall, outage, fraud customer, declined customer, amount limit.
 */
import { createHash } from 'node:crypto';
import type { ProcessorVerdict } from '../../machines/authorization.ts';
import { ProcessorUnavailableError, type AuthorizationRequest, type PaymentProcessor } from './processor.ts';

export interface SimulatorRules {
  /** Minor units; an amount strictly above it is declined. */
  declineAbove?: number | undefined;
  fraudCustomers: readonly string[];
  declineCustomers: readonly string[];
  latencyMs: number;
  /** 0..1, deterministic per (orderId, attempt). */
  transientFailureRate: number;
  stallCustomers: readonly string[];
  stallMs: number;
}

export const defaultSimulatorRules: SimulatorRules = {
  fraudCustomers: [],
  declineCustomers: [],
  latencyMs: 0,
  transientFailureRate: 0,
  stallCustomers: [],
  stallMs: 30_000,
};

export type Sleep = (ms: number) => Promise<void>;

const realSleep: Sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A simulated processor, with the counts a test needs to prove "asked N times, charged once".
 *
 * Like a real one (Stripe's `Idempotency-Key`), it keeps the verdict it gave for an order and
 * answers a repeat with it: the Payment API asks again when it crashed between the processor's
 * answer and its own commit, and that must not charge twice. An outage decides nothing, so the
 * next attempt is decided afresh.
 *
 * It remembers the last `REMEMBERED_ORDERS` orders it was asked about, as a processor keeps its
 * idempotency keys for a while and then forgets them: a repeat comes within seconds of the first
 * ask (a crash between the answer and the commit), and afterwards the Payment API has the verdict
 * in its own store and never asks again. Unbounded, the simulator held about 0.6 KiB for every
 * order of the process's life, which a long run grew by (docs/benchmarks.md).
 */
export interface Simulator extends PaymentProcessor {
  readonly rules: SimulatorRules;
  /** How many times the processor was asked about this order. */
  attempts(orderId: string): number;
  /** How many times it approved this order afresh (a real processor charges each): at most 1. */
  approvals(orderId: string): number;
  /** Every order approved among those remembered, with its count of fresh approvals. */
  approvalCounts(): ReadonlyMap<string, number>;
}

/** How many orders the simulator remembers, the oldest asked about forgotten first. */
export const REMEMBERED_ORDERS = 50_000;

interface Remembered {
  attempts: number;
  approvals: number;
  verdict: ProcessorVerdict | undefined;
}

const APPROVED: ProcessorVerdict = Object.freeze({ outcome: 'approved' });

/**
 * The roll for one attempt, uniform in [0, 1): the attempt fails as an outage when it is below
 * `transientFailureRate`. Exported so that tests can pick orders that fail first and then succeed.
 */
export function simulatorRoll(orderId: string, attempt: number): number {
  return createHash('sha256').update(`${orderId}#${attempt}`).digest().readUInt32BE(0) / 2 ** 32;
}

export function createSimulator(
  rules: SimulatorRules = defaultSimulatorRules,
  sleep: Sleep = realSleep,
  remembered: number = REMEMBERED_ORDERS,
): Simulator {
  const orders = new Map<string, Remembered>();
  const remember = (orderId: string): Remembered => {
    let r = orders.get(orderId);
    if (r === undefined) {
      r = { attempts: 0, approvals: 0, verdict: undefined };
      orders.set(orderId, r);
      // A Map iterates in insertion order: its first key is the order asked about longest ago.
      if (orders.size > remembered) orders.delete(orders.keys().next().value!);
    }
    return r;
  };
  const customerIn = (list: readonly string[], customerId: string | undefined) =>
    customerId !== undefined && list.includes(customerId);

  const decide = (req: AuthorizationRequest): ProcessorVerdict => {
    if (customerIn(rules.fraudCustomers, req.customerId)) {
      return { outcome: 'declined', reason: 'FRAUD', message: 'the payment was refused by fraud screening' };
    }
    if (customerIn(rules.declineCustomers, req.customerId)) {
      return { outcome: 'declined', reason: 'DECLINED', message: 'the card issuer declined the payment' };
    }
    if (rules.declineAbove !== undefined && req.amount > rules.declineAbove) {
      return {
        outcome: 'declined',
        reason: 'DECLINED',
        message: `amount ${req.amount} exceeds the limit of ${rules.declineAbove}`,
      };
    }
    return APPROVED;
  };

  return {
    rules,
    attempts: (orderId) => orders.get(orderId)?.attempts ?? 0,
    approvals: (orderId) => orders.get(orderId)?.approvals ?? 0,
    approvalCounts: () => new Map([...orders].filter(([, r]) => r.approvals > 0).map(([id, r]) => [id, r.approvals])),
    async authorize(req) {
      const memory = remember(req.orderId);
      const attempt = ++memory.attempts;
      if (rules.latencyMs > 0) await sleep(rules.latencyMs);
      if (customerIn(rules.stallCustomers, req.customerId)) await sleep(rules.stallMs);
      if (
        rules.transientFailureRate > 0 &&
        simulatorRoll(req.orderId, attempt) < rules.transientFailureRate
      ) {
        throw new ProcessorUnavailableError(
          `simulated processor outage (order ${req.orderId}, attempt ${attempt})`,
        );
      }
      if (memory.verdict) return memory.verdict;
      const verdict = decide(req);
      memory.verdict = verdict;
      if (verdict.outcome === 'approved') memory.approvals++;
      return verdict;
    },
  };
}

/** Reads the simulator's rules from the environment (see the header); throws naming a bad variable. */
export function simulatorRulesFromEnv(env: Readonly<Record<string, string | undefined>>): SimulatorRules {
  const text = (name: string): string | undefined => {
    const v = env[name]?.trim();
    return v ? v : undefined;
  };
  const list = (name: string): string[] =>
    (text(name) ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s.length > 0);
  const int = (name: string): number | undefined => {
    const v = text(name);
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isSafeInteger(n) || n < 0)
      throw new Error(`${name} must be a non-negative integer, got "${v}"`);
    return n;
  };
  const rate = (name: string): number | undefined => {
    const v = text(name);
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0 || n > 1)
      throw new Error(`${name} must be a number from 0 to 1, got "${v}"`);
    return n;
  };
  return {
    declineAbove: int('PAYMENT_DECLINE_ABOVE'),
    fraudCustomers: list('PAYMENT_FRAUD_CUSTOMERS'),
    declineCustomers: list('PAYMENT_DECLINE_CUSTOMERS'),
    latencyMs: int('PAYMENT_LATENCY_MS') ?? defaultSimulatorRules.latencyMs,
    transientFailureRate:
      rate('PAYMENT_TRANSIENT_FAILURE_RATE') ?? defaultSimulatorRules.transientFailureRate,
    stallCustomers: list('PAYMENT_STALL_CUSTOMERS'),
    stallMs: int('PAYMENT_STALL_MS') ?? defaultSimulatorRules.stallMs,
  };
}
