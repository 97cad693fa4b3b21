/**
 * A participant's page: its machine, where it stands, and its side of one saga's conversation.
 * Where the participant's service answers a public query (payment: get-payment, order:
 * get-order) its state is that live answer; otherwise (the reservation) it is what the saga last
 * heard from it, and the page says which.
 */
import type { AnyStateMachine } from 'xstate';
import { activeStateIds } from '../visualize/graph.ts';
import { machineNamed } from '../visualize/machines.ts';
import type { ExplorerSource } from './data.ts';
import type { ExchangeItem, ParticipantKind, ParticipantView } from './view.ts';

export interface ParticipantPage {
  kind: ParticipantKind;
  actorId: string;
  service: ParticipantView['service'];
  /** The state key shown, and where it came from. */
  state: string | undefined;
  stateSource: 'live' | 'saga' | undefined;
  activeIds: string[];
  /** The service's own answer, when it has a query for this actor. */
  live: unknown;
  checkoutId: string | undefined;
  exchange: ExchangeItem[];
}

export const participantKinds: readonly ParticipantKind[] = ['reservation', 'authorization', 'order'];

const serviceOf: Record<ParticipantKind, ParticipantView['service']> = { reservation: 'inventory', authorization: 'payment', order: 'order' };

/** A service's status word (`AUTHORIZED`) as the machine's state key (`authorized`), if it is one. */
function stateKey(machine: AnyStateMachine, status: string | undefined): string | undefined {
  const key = status?.toLowerCase();
  return key !== undefined && machine.root.states[key] ? key : undefined;
}

export async function participantPage(
  data: ExplorerSource,
  kind: ParticipantKind,
  actorId: string,
  fromSaga: ParticipantView | undefined,
  checkoutId: string | undefined,
): Promise<ParticipantPage> {
  const machine = machineNamed(kind)!.machine;
  const live = kind === 'authorization' ? await data.payment(actorId) : kind === 'order' ? await data.order(actorId) : undefined;
  const liveState = stateKey(machine, live?.status);
  const sagaState = stateKey(machine, fromSaga?.lastSeen);
  const state = liveState ?? sagaState;
  return {
    kind,
    actorId,
    service: serviceOf[kind],
    state,
    stateSource: liveState ? 'live' : sagaState ? 'saga' : undefined,
    activeIds: state ? (activeStateIds(machine, state) ?? []) : [],
    live,
    checkoutId,
    exchange: fromSaga?.exchange ?? [],
  };
}
