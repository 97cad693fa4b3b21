/**
 * Runs one checkout recipe against the running system and checks, step by step, that the real
 * saga takes exactly the path the model generated: the saga's journal must hold the path's events
 * in order, each leading to the model's state. Wherever the saga waits, the published status must
 * be the one the model's last `publishStatus` said; at the end the outside world (checkout status,
 * order, stock, payment, ORDERING events, the stores' invariants) must show the model's outcome.
 *
 * Problems come back as plain-words lines, headed by the whole path, so that a tester can replay
 * the scenario by hand.
 */
import { randomUUID } from 'node:crypto';
import type { AnyMachineSnapshot } from 'xstate';
import { MessageType } from '../../../src/contracts/index.ts';
import type { CheckoutContext, CheckoutEvent, StatusParams } from '../../../src/machines/checkout.ts';
import { catalogReason, checkSagaPath } from '../../../src/devtools/testing/checkout-spec.ts';
import type { Basket, Customer, Recipe } from '../../../src/devtools/testing/checkout-world.ts';
import { statePath } from '../../../src/devtools/testing/model.ts';
import { checkoutModel, describeCheckoutEvent } from '../../../src/devtools/testing/models/checkout.ts';
import type { TestSystem } from '../../support/system-fixture.ts';
import type { Observer } from './observe.ts';
import type { World } from './world.ts';

export interface Cast {
  /** Customers the system's config treats specially; `regular` is a fresh id per run. */
  customers: Record<Exclude<Customer, 'regular'>, string>;
  baskets: Record<Basket, ReadonlyArray<readonly [productId: string, quantity: number]>>;
  /** How long to wait for the saga's next step (covers deadlines plus retry backoff). */
  stepTimeoutMs: number;
}

/** An event in words with its discriminating field, e.g. `timer.expired(createOrder)`. */
export function eventLabel(e: { type: string; [k: string]: unknown }): string {
  const d =
    e.type === 'step.failed'
      ? e.step
      : e.type === 'timer.expired'
        ? e.timer
        : e.type === 'payment.declined'
          ? e.fraud
            ? 'fraud'
            : 'declined'
          : undefined;
  return typeof d === 'string' ? `${e.type}(${d})` : e.type;
}

/** The recipe's path in plain words, one step per line, with the recipe itself. */
export function recipeText(r: Recipe): string {
  const steps = r.events.map(
    (e, i) => `  ${i + 1}. ${describeCheckoutEvent(e, r.states[i]!)}  [${eventLabel(e)}]`,
  );
  return [
    `path: ${r.events.map((e, i) => describeCheckoutEvent(e, r.states[i]!)).join(' → ')} ${checkoutModel.describeEnd(r.states.at(-1)!)}`,
    ...steps,
    `recipe: ${r.words}`,
  ].join('\n');
}

const sameStep = (real: JournalEvent, model: CheckoutEvent): boolean =>
  eventLabel(real) === eventLabel(model);
type JournalEvent = { type: string; [k: string]: unknown };

/** The status the model says is published once the saga has taken `i` events. */
function predictedStatuses(r: Recipe): Array<StatusParams | undefined> {
  const { actions } = checkSagaPath(checkoutModel.machine, checkoutModel.input, r.events);
  const out: Array<StatusParams | undefined> = [undefined];
  let last: StatusParams | undefined;
  for (const acts of actions) {
    for (const a of acts) if (a.type === 'publishStatus') last = a.params as StatusParams;
    out.push(last);
  }
  return out;
}

/** One line of a run as it happens: a world change made, or a check with its verdict. */
export type RunLine = { kind: 'act'; text: string } | { kind: 'check'; text: string; ok: boolean };

export interface RunResult {
  problems: string[];
  checkoutId: string;
  orderId: string;
}

export async function runRecipe(
  t: TestSystem,
  world: World,
  observe: Observer,
  r: Recipe,
  cast: Cast,
  report: (line: RunLine) => void = () => undefined,
): Promise<RunResult> {
  const problems: string[] = [];
  const act = async (a: Recipe['actions'][number]['action'], checkoutId: string) => {
    report({ kind: 'act', text: worldWords(a) });
    await world.do(a, checkoutId);
  };
  const customerId = r.customer === 'regular' ? randomUUID() : cast.customers[r.customer];
  const lines = cast.baskets[r.basket];
  const stockBefore = await Promise.all(lines.map(([p]) => t.shopper.stock(p)));
  const statuses = predictedStatuses(r);
  const actionsAt = (i: number) => r.actions.filter((a) => a.at === i).map((a) => a.action);
  const ids = { checkoutId: '', orderId: '' };
  const done = (more: string[]): RunResult => ({ problems: [...problems, ...more], ...ids });
  try {
    for (const a of actionsAt(0)) await act(a, '');
    const cart = await t.shopper.buy(customerId, lines);
    Object.assign(ids, { checkoutId: cart.checkoutId, orderId: cart.orderId });
    report({
      kind: 'act',
      text: `${r.customer} customer ${customerId} checked out cart ${cart.cartId}: checkout ${cart.checkoutId}, order ${cart.orderId}`,
    });
    const { checkoutId } = ids;
    for (let i = 1; i <= r.events.length; i++) {
      const entries = await observe.journaled(checkoutId, i, cast.stepTimeoutMs);
      const real = entries[i - 1];
      const want = r.events[i - 1]!;
      const wantState: unknown = r.states[i]!.value;
      const step = `${i}. ${describeCheckoutEvent(want, r.states[i - 1]!)} [${eventLabel(want)}] → ${statePath(wantState)}`;
      const wrong = !real
        ? `the saga stopped after ${entries.length} events, waiting for event ${i}: ${eventLabel(want)}`
        : !sameStep(real.event, want)
          ? `event ${i}: the saga took ${eventLabel(real.event)}, the path says ${eventLabel(want)}`
          : JSON.stringify(real.toState) !== JSON.stringify(wantState)
            ? `event ${i}: the saga went to ${JSON.stringify(real.toState)}, the model to ${JSON.stringify(wantState)}`
            : undefined;
      report({ kind: 'check', text: wrong ? `${step}: ${wrong}` : `${step}: journaled`, ok: !wrong });
      if (wrong) return done([wrong, journalText(entries)]);
      const acts = actionsAt(i);
      const waits = acts.length > 0 || statePath(wantState).endsWith('needsAttention');
      const predicted = statuses[i];
      if (waits && predicted) {
        const seen = await observe.statusBecomes(
          checkoutId,
          (s) => s.status === predicted.status && s.step === predicted.step,
          5_000,
        );
        const ok = seen?.status === predicted.status && seen.step === predicted.step;
        report({
          kind: 'check',
          text: `   status ${seen?.status}/${seen?.step}${ok ? '' : `, the model says ${predicted.status}/${predicted.step}`}`,
          ok,
        });
        if (!ok) {
          problems.push(
            `after event ${i} the status is ${seen?.status}/${seen?.step}, the model says ${predicted.status}/${predicted.step}`,
          );
        }
      }
      const acting = async () => {
        for (const a of acts) await act(a, checkoutId);
      };
      // An operator's retry must reach the saga before any answer to its own re-sends (world.ts).
      if (acts.some((a) => a.kind === 'operatorRetry')) await world.holdingSaga(checkoutId, acting);
      else await acting();
    }
    const end = await outcomeProblems(t, observe, r, cart.orderId, checkoutId, lines, stockBefore);
    for (const p of end) report({ kind: 'check', text: `outcome: ${p}`, ok: false });
    if (!end.length)
      report({
        kind: 'check',
        text: `outcome: ${checkoutModel.describeEnd(r.states.at(-1)!)} in the checkout, the order, the payment, the stock, the ORDERING stream and the stores' invariants`,
        ok: true,
      });
    return done(end);
  } finally {
    await world.restore();
  }
}

function worldWords(a: Recipe['actions'][number]['action']): string {
  switch (a.kind) {
    case 'stop':
      return `${a.participant} stopped`;
    case 'start':
      return `${a.participant} started again`;
    case 'fault':
      return `${a.participant} stopped, a stand-in answers ${a.command} with an error`;
    case 'operatorRetry':
      return 'an operator retries';
    default: {
      const _exhaustive: never = a;
      return String(_exhaustive);
    }
  }
}

function journalText(entries: readonly { event: JournalEvent; toState: unknown }[]): string {
  return `the saga's journal: ${entries.map((e) => `${eventLabel(e.event)} → ${statePath(e.toState)}`).join(', ') || '(empty)'}`;
}

async function outcomeProblems(
  t: TestSystem,
  observe: Observer,
  r: Recipe,
  orderId: string,
  checkoutId: string,
  lines: Cast['baskets'][Basket],
  stockBefore: ReadonlyArray<{ available: number; reserved?: number | undefined }>,
): Promise<string[]> {
  const problems: string[] = [];
  const end: AnyMachineSnapshot = r.states.at(-1)!;
  const c = end.context as CheckoutContext;
  const outcome = statePath(end.value);
  const status = await t.shopper.settle(checkoutId, ['CONFIRMED', 'CANCELLED'], 10_000);
  const order = await t.shopper.order(orderId);
  const payment = await observe.payment(orderId);
  const stock = await Promise.all(lines.map(([p]) => t.shopper.stock(p)));
  const wantCreated = outcome === 'confirmed';
  if (wantCreated) {
    if (status.status !== 'CONFIRMED')
      problems.push(`checkout is ${status.status}, the model says CONFIRMED`);
    if (order?.status !== 'CREATED')
      problems.push(`order is ${order?.status ?? 'missing'}, the model says CREATED`);
    if (payment?.status !== 'AUTHORIZED')
      problems.push(`payment is ${payment?.status ?? 'missing'}, the model says AUTHORIZED`);
  } else {
    const failure = c.failure!;
    if (
      status.status !== 'CANCELLED' ||
      status.reason !== catalogReason[failure] ||
      status.detail !== failure
    ) {
      problems.push(
        `checkout is ${status.status} ${status.reason ?? ''}/${status.detail ?? ''}, the model says CANCELLED ${catalogReason[failure]}/${failure}`,
      );
    }
    if (order?.status !== 'CANCELLED')
      problems.push(`order is ${order?.status ?? 'missing'}, the model says CANCELLED`);
    const wantPayment = !c.attempted.includes('authorizePayment')
      ? undefined
      : r.events.some((e) => e.type === 'payment.declined')
        ? 'DECLINED'
        : 'VOIDED';
    if (payment?.status !== wantPayment)
      problems.push(
        `payment is ${payment?.status ?? 'absent'}, the model says ${wantPayment ?? 'absent (never asked)'}`,
      );
  }
  lines.forEach(([productId, q], i) => {
    const before = { available: stockBefore[i]!.available, reserved: stockBefore[i]!.reserved ?? 0 };
    const after = { available: stock[i]!.available, reserved: stock[i]!.reserved ?? 0 };
    const held = wantCreated ? q : 0;
    if (after.available !== before.available - held || after.reserved !== before.reserved + held) {
      problems.push(
        `stock of ${productId} went ${before.available}/${before.reserved} → ${after.available}/${after.reserved} (available/reserved); the model says ${held} held`,
      );
    }
  });
  const want = wantCreated ? MessageType.orderCreated : MessageType.orderCancelled;
  const unwanted = wantCreated ? MessageType.orderCancelled : MessageType.orderCreated;
  const until = Date.now() + 5_000;
  while (!observe.ordering(orderId).includes(want) && Date.now() < until)
    await new Promise((res) => setTimeout(res, 20));
  const published = observe.ordering(orderId);
  if (published.filter((x) => x === want).length !== 1)
    problems.push(
      `ORDERING carries ${published.filter((x) => x === want).length} × ${want} for the order, the model says 1`,
    );
  if (published.includes(unwanted))
    problems.push(`ORDERING carries ${unwanted} for the order, the model says none`);
  problems.push(...t.invariants());
  return problems;
}
