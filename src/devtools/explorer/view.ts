/**
 * What the explorer shows for one checkout, built from the orchestrator's trace: the journal
 * replayed through the pure machine (time travel: the state, context and actions at every step),
 * the state ids and drawn lines to highlight at each step, and each participant's side of the
 * conversation as the saga saw it. Pure: no I/O, so it is tested without a browser or a system.
 */
import { orderNumberOf } from '../../contracts/order-number.ts';
import type { StateValue } from 'xstate';
import type { CheckoutTrace } from '../../contracts/index.ts';
import { activeStateIds, type MachineGraph } from '../visualize/graph.ts';
import { edgeIdOf } from '../visualize/layout.ts';
import type { MachineEntry } from '../visualize/machines.ts';
import type { JournalEntry } from '../../runtime/journal-queries.ts';
import { canonical, replayJournal, type ReplayStep } from '../visualize/replay.ts';

export interface StepView extends ReplayStep {
  activeIds: string[];
  /** `data-edge-id`s of the lines this step went along. */
  takenEdges: string[];
}

export type ParticipantKind = 'reservation' | 'authorization' | 'order';

export interface ExchangeItem {
  at: string;
  /** A request the saga sent, a reply it got, or its own deadline for that step passing. */
  direction: 'sent' | 'received' | 'deadline';
  type: string;
  status?: string | undefined;
  detail?: string | undefined;
  messageId?: string | null | undefined;
}

export interface ParticipantView {
  kind: ParticipantKind;
  service: 'inventory' | 'payment' | 'order';
  actorId: string;
  /** The participant's state as the saga last heard it, if it heard anything. */
  lastSeen: string | undefined;
  exchange: ExchangeItem[];
  href: string;
}

export interface CheckoutView {
  trace: CheckoutTrace;
  activeIds: string[];
  steps: StepView[];
  replay: {
    /** The machine version the explorer replays with, and the one that stored the saga. */
    machineVersion: string;
    storedVersion: string;
    consistent: boolean;
    divergences: Array<{ seq: number; differences: string[] }>;
  };
  participants: ParticipantView[];
  links: { order: string; explorer: string };
  /** The short order number the shopper was shown (ACME-XXXX-XXXX). */
  orderNumber: string;
}

const PARTICIPANT_OF_STEP: Record<string, ParticipantKind> = {
  reserveInventory: 'reservation',
  releaseInventory: 'reservation',
  authorizePayment: 'authorization',
  voidPayment: 'authorization',
  createOrder: 'order',
  cancelOrder: 'order',
};

const SERVICE: Record<ParticipantKind, ParticipantView['service']> = { reservation: 'inventory', authorization: 'payment', order: 'order' };

/** What a reply tells about the participant's state. */
const SEEN_AS: Record<string, string> = {
  'inventory.reserved': 'held',
  'inventory.unavailable': 'refused',
  'inventory.released': 'released',
  'payment.authorized': 'authorized',
  'payment.declined': 'declined',
  'payment.voided': 'voided',
  'order.created': 'created',
  'order.rejected': 'rejected',
  'order.cancelled': 'cancelled',
};

function participantOfEvent(e: { type: string; step?: unknown; timer?: unknown }): ParticipantKind | undefined {
  if (e.type.startsWith('inventory.')) return 'reservation';
  if (e.type.startsWith('payment.')) return 'authorization';
  if (e.type.startsWith('order.')) return 'order';
  const step = e.type === 'step.failed' ? e.step : e.type === 'timer.expired' ? e.timer : undefined;
  return typeof step === 'string' ? PARTICIPANT_OF_STEP[step] : undefined;
}

export function checkoutView(trace: CheckoutTrace, entry: MachineEntry, graph: MachineGraph): CheckoutView {
  const journal: JournalEntry[] = trace.journal.map((j) => ({ ...j, at: Date.parse(j.at), from: j.from as StateValue | null, to: j.to as StateValue }));
  const replay = replayJournal(entry.machine, entry.input(trace.checkoutId), journal);
  const ids = (v: unknown) => (v === null || v === undefined ? [] : (activeStateIds(entry.machine, v as StateValue) ?? []));
  const parent = new Map(graph.states.map((s) => [s.id, s.parent]));
  const edgeId = edgeIdOf(graph);
  const steps = replay.steps.map((s, i): StepView => {
    const before = new Set(ids(s.from));
    const after = new Set(ids(s.to));
    const type = s.event?.type;
    const taken = graph.transitions.filter((t) =>
      t.event !== undefined
        ? t.event === type && before.has(t.source) && after.has(t.target ?? t.source)
        : // an eventless route passed through on the way in (compensating.next)
          i > 0 && t.target !== undefined && after.has(t.target) && !before.has(t.target) && !after.has(t.source) && after.has(parent.get(t.source) ?? ''),
    );
    return { ...s, at: s.at, activeIds: [...after], takenEdges: [...new Set(taken.map(edgeId))] };
  });
  const consistent = replay.divergences.length === 0 && canonical(replay.final.value) === canonical(trace.stateValue);
  return {
    trace,
    activeIds: ids(trace.stateValue),
    steps,
    replay: { machineVersion: entry.version, storedVersion: trace.machineVersion, consistent, divergences: replay.divergences },
    participants: participants(trace),
    links: { order: `/orders/${trace.participants.orderId}`, explorer: `/explorer/checkouts/${trace.checkoutId}` },
    orderNumber: orderNumberOf(trace.participants.orderId),
  };
}

function participants(trace: CheckoutTrace): ParticipantView[] {
  const p = trace.participants;
  const ids: Record<ParticipantKind, string> = { reservation: p.reservationId, authorization: p.orderId, order: p.orderId };
  const views = new Map<ParticipantKind, ParticipantView>();
  for (const kind of ['reservation', 'authorization', 'order'] as const) {
    views.set(kind, {
      kind,
      service: SERVICE[kind],
      actorId: ids[kind],
      lastSeen: undefined,
      exchange: [],
      href: `/explorer/participants/${kind}/${ids[kind]}?checkout=${trace.checkoutId}`,
    });
  }
  for (const o of trace.outbox) {
    const kind = o.mode === 'request' && o.slot ? PARTICIPANT_OF_STEP[o.slot] : undefined;
    if (!kind) continue;
    views.get(kind)!.exchange.push({
      at: o.createdAt,
      direction: 'sent',
      type: o.type ?? o.subject,
      status: o.attempts > 1 ? `${o.status}, ${o.attempts} attempts` : o.status,
      detail: o.lastError,
      messageId: o.messageId,
    });
  }
  for (const j of trace.journal) {
    const kind = participantOfEvent(j.event);
    if (!kind) continue;
    const view = views.get(kind)!;
    const seen = SEEN_AS[j.event.type];
    if (seen) view.lastSeen = seen;
    const code = (j.event as { code?: unknown }).code;
    view.exchange.push({
      at: j.at,
      direction: j.event.type === 'timer.expired' ? 'deadline' : 'received',
      type: j.event.type,
      detail: typeof code === 'string' ? code : undefined,
      messageId: j.messageId,
    });
  }
  for (const v of views.values()) v.exchange.sort((a, b) => a.at.localeCompare(b.at));
  if (trace.participants.reservationId === '') views.delete('reservation');
  return [...views.values()].filter((v) => v.actorId !== '');
}
