/**
 * Replaying a journal through a machine: the same machine reproduces every step; a changed one is
 * caught at the first step where it decides differently, with the outcome it would reach. Journals
 * here are recorded the way the actor host records them (pure transitions, xstate's own actions
 * left out), from the real checkout machine.
 */
import { createMachine, initialTransition, transition, type AnyMachineSnapshot, type AnyStateMachine, type EventObject, type StateValue } from 'xstate';
import { describe, expect, it } from 'vitest';
import { checkoutMachine, type CheckoutEvent } from '../../src/machines/checkout.ts';
import { machineNamed, type MachineEntry } from '../../src/devtools/visualize/machines.ts';
import { formatReplayReport, replayReport } from '../../src/devtools/visualize/replay-report.ts';
import type { JournalEntry } from '../../src/runtime/journal-queries.ts';
import { canonical, replayJournal } from '../../src/devtools/visualize/replay.ts';

const ID = '0d7a3f9e-5b2c-4e61-8a4f-2b9c7d1e3f02';
const started: CheckoutEvent = {
  type: 'checkout.started', now: 1_700_000_000_000, checkoutId: ID,
  orderId: '6f1c2a52-7f0e-4c38-9a59-1c1f8c2a6b01', reservationId: 'a3e5c7d9-1b2f-4a6c-8e0d-3f5a7c9e1b03',
  cartId: 'c1d3e5f7-2a4b-4c6d-8e0f-1a3b5c7d9e04', customerId: 'e9f1a3b5-c7d9-4e1f-a3b5-c7d9e1f3a505',
  items: [{ productId: 'p', quantity: 1, unitPrice: 100 }], subtotal: 100, discount: 0, total: 100, currency: 'USD',
  deadlines: { reserveInventoryMs: 1_000, authorizePaymentMs: 1_000, createOrderMs: 1_000, compensationMs: 5_000 },
};
const declinedFlow: CheckoutEvent[] = [
  started,
  { type: 'inventory.reserved', reservationId: started.reservationId },
  { type: 'payment.declined', fraud: false },
  { type: 'payment.voided' },
  { type: 'inventory.released' },
  { type: 'order.cancelled' },
];

/** What the host journals for these events: only accepted ones, with the actions it executed. */
function record(machine: AnyStateMachine, events: readonly EventObject[]): { journal: JournalEntry[]; final: AnyMachineSnapshot } {
  let [snapshot, pending] = initialTransition(machine, { id: ID }) as [AnyMachineSnapshot, Array<{ type: string; params?: unknown }>];
  let isNew = true;
  const journal: JournalEntry[] = [];
  for (const [i, event] of events.entries()) {
    const [next, actions] = transition(machine, snapshot, event) as [AnyMachineSnapshot, Array<{ type: string; params?: unknown }>];
    if (next === snapshot) continue;
    const all = [...pending, ...actions].filter((a) => !a.type.startsWith('xstate.'));
    journal.push({
      seq: journal.length + 1, event, from: isNew ? null : (snapshot.value as StateValue), to: next.value as StateValue,
      actions: JSON.parse(JSON.stringify(all.map((a) => ({ type: a.type, params: a.params })))) as JournalEntry['actions'],
      messageId: `m${i}`, causationId: null, at: 1_700_000_000_000 + i,
    });
    snapshot = next;
    pending = [];
    isNew = false;
  }
  return { journal, final: snapshot };
}

/** The checkout machine as someone might change it: a declined payment cancels at once, undoing nothing. */
const careless = (() => {
  const config = checkoutMachine.config as { states: Record<string, { on?: Record<string, unknown> }> };
  const auth = config.states.authorizingPayment!;
  return createMachine(
    { ...config, states: { ...config.states, authorizingPayment: { ...auth, on: { ...auth.on, 'payment.declined': { target: 'cancelled' } } } } },
    checkoutMachine.implementations as Parameters<typeof createMachine>[1],
  );
})();

describe('journal replay', () => {
  describe('when the machine has not changed', () => {
    it('reproduces every recorded state and action, and the final snapshot', () => {
      const { journal, final } = record(checkoutMachine, declinedFlow);
      const r = replayJournal(checkoutMachine, { id: ID }, journal);
      expect(r.divergences).toEqual([]);
      expect(r.steps.map((s) => s.to)).toEqual(['idle', ...journal.map((j) => j.to)]);
      expect(canonical(r.final.context)).toBe(canonical(final.context));
      expect(r.final).toMatchObject({ value: 'cancelled', status: 'done' });
    });

    it('shows the context at each step, for time travel', () => {
      const { journal } = record(checkoutMachine, declinedFlow);
      const { steps } = replayJournal(checkoutMachine, { id: ID }, journal);
      expect(steps.map((s) => (s.context as { compensated: string[] }).compensated)).toEqual([[], [], [], [], ['voidPayment'], ['voidPayment', 'releaseInventory'], ['voidPayment', 'releaseInventory', 'cancelOrder']]);
      expect(steps[3]).toMatchObject({ from: 'authorizingPayment', to: { compensating: { voidingPayment: 'trying' } }, messageId: 'm2' });
    });
  });

  describe('when the machine has changed', () => {
    it('names the first step it decides differently, and the events it would then refuse', () => {
      const { journal } = record(checkoutMachine, declinedFlow);
      const r = replayJournal(careless, { id: ID }, journal);
      expect(r.divergences.map((d) => d.seq)).toEqual([3, 4, 5, 6]);
      expect(r.divergences[0]!.differences).toEqual([
        'goes to "cancelled", recorded {"compensating":{"voidingPayment":"trying"}}',
        expect.stringMatching(/^actions cancelTimer\{"timer":"authorizePayment"\}, publishStatus\{"status":"CANCELLED","step":"DONE"\}, recorded cancelTimer.*requestVoidPayment/),
      ]);
      expect(r.divergences[1]!.differences).toEqual(['payment.voided is not accepted in state "cancelled"']);
    });

    it('reports, against the recorded version, where and how the outcome would differ', () => {
      const { journal } = record(checkoutMachine, declinedFlow);
      const entry: MachineEntry = { ...machineNamed('checkout')!, machine: careless, version: '2' };
      const report = replayReport(entry, { id: ID, machineVersion: '1', status: 'done', stateValue: 'cancelled', journal, journalTruncated: false }, '1');
      expect(report.agrees).toBe(false);
      const text = formatReplayReport(report);
      expect(text).toContain('The current machine (version 2) would differ from the recorded history (version 1):');
      expect(text).toContain('step 3 (payment.declined): goes to "cancelled", recorded {"compensating":{"voidingPayment":"trying"}}');
      expect(text).toContain('step 4 (payment.voided): payment.voided is not accepted in state "cancelled"');
    });

    it('reports a different outcome when the steps agree but the end does not', () => {
      const { journal } = record(checkoutMachine, declinedFlow.slice(0, 3));
      const report = replayReport(machineNamed('checkout')!, { id: ID, machineVersion: '1', status: 'active', stateValue: 'authorizingPayment', journal, journalTruncated: false });
      expect(report.agrees).toBe(false);
      expect(formatReplayReport(report)).toContain('outcome: recorded authorizingPayment, the current machine would be in compensating.voidingPayment.trying');
    });
  });
});
