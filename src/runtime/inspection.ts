/**
 * Reporting committed transitions to an inspector. The host runs pure transitions, not live
 * xstate actors, so there is nothing for an inspector to observe; instead the host tells it, after
 * each commit, through the manual API of @statelyai/inspect's inspector (`actor`, `event`,
 * `snapshot`), which is why any such inspector can be passed as a `HostInspector` as it is.
 */
import type { AnyMachineSnapshot, AnyStateMachine, EventObject } from 'xstate';
import type { MessageMeta } from '../contracts/headers.ts';

export interface InspectedSnapshot {
  status?: string;
  value?: unknown;
  context?: unknown;
}

/** Enough of an actor ref for @statelyai/inspect to show the machine (it reads `logic.config`). */
export interface InspectedActor {
  sessionId: string;
  id: string;
  logic: AnyStateMachine;
  send(event: EventObject): void;
  getSnapshot(): unknown;
}

export interface HostInspector {
  actor(actor: InspectedActor, snapshot?: InspectedSnapshot, info?: { definition?: string }): void;
  event(target: string, event: EventObject, info?: { source?: string }): void;
  snapshot(actor: string, snapshot: InspectedSnapshot, info?: { event?: EventObject }): void;
}

/** Announces each actor once (per process, bounded), then reports its events and snapshots. */
export class InspectionReporter {
  private inspector: HostInspector | undefined;
  private readonly announced = new Set<string>();

  constructor(
    private readonly kind: string,
    private readonly machine: AnyStateMachine,
    private readonly maxAnnounced: number,
  ) {}

  attach(inspector: HostInspector | undefined): void {
    this.inspector = inspector;
    this.announced.clear();
  }

  /**
   * Called inside the transaction; returns what to run after the commit (nothing is reported for
   * a transition that rolls back). An inspector that throws never fails the host.
   */
  prepare(id: string, event: EventObject, next: AnyMachineSnapshot, cause: MessageMeta | undefined): (() => void) | undefined {
    const inspector = this.inspector;
    if (!inspector) return undefined;
    const sessionId = `${this.kind}/${id}`;
    const snapshot = this.machine.getPersistedSnapshot(next) as unknown as InspectedSnapshot;
    const announce = !this.announced.has(sessionId);
    return () => {
      try {
        if (announce) {
          this.announced.add(sessionId);
          if (this.announced.size > this.maxAnnounced) this.announced.delete(this.announced.values().next().value ?? sessionId);
          const ref: InspectedActor = { sessionId, id: sessionId, logic: this.machine, send: () => undefined, getSnapshot: () => snapshot };
          inspector.actor(ref, snapshot, { definition: JSON.stringify(this.machine.config) });
        }
        inspector.event(sessionId, event, cause?.source ? { source: cause.source } : {});
        inspector.snapshot(sessionId, snapshot, { event });
      } catch {
        // Best effort: inspection must never fail a transition that has already committed.
      }
    };
  }
}
