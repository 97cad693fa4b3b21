/**
 * The world around a running system, as a model-based test arranges it: participants stopped,
 * restarted, or replaced by a stand-in that answers one command with an error, and an operator's
 * retry. Everything goes through the real runtimes and the real transport.
 *
 * A stopped runtime closes its store, so "back up" is a fresh `ServiceRuntime` on the same data
 * directory and the same transport connection (the system's `transportFor`), started the way
 * `startSystem` starts that service; it replaces the old one in `system.runtimes`, so the
 * system's own `stop()` stops it.
 */
import { join } from 'node:path';
import { inventoryMigrations, startInventoryService } from '../../../src/actors/inventory/service.ts';
import { orderMigrations } from '../../../src/actors/order/schema.ts';
import { startOrderService } from '../../../src/actors/order/service.ts';
import { paymentMigrations } from '../../../src/actors/payment/schema.ts';
import { startPaymentService } from '../../../src/actors/payment/service.ts';
import { createSimulator } from '../../../src/actors/payment/simulator.ts';
import { Command } from '../../../src/contracts/subjects.ts';
import type { ActorHost } from '../../../src/runtime/actor-host.ts';
import { ServiceRuntime } from '../../../src/runtime/service.ts';
import { Store } from '../../../src/runtime/store.ts';
import { errorReply } from '../../../src/runtime/transport/reply.ts';
import type { Closer } from '../../../src/runtime/transport/transport.ts';
import type { Participant, ParticipantCommand, WorldAction } from '../../../src/devtools/testing/checkout-world.ts';
import type { TestSystem } from '../../support/system-fixture.ts';

const subjectOf: Record<ParticipantCommand, string> = {
  'reserve-inventory': Command.reserveInventory,
  'release-inventory': Command.releaseInventory,
  'authorize-payment': Command.authorizePayment,
  'void-payment': Command.voidPayment,
  'create-order': Command.createOrder,
  'cancel-order': Command.cancelOrder,
};

export class World {
  private readonly standIns = new Map<Participant, Closer>();
  private readonly stopped = new Set<Participant>();

  constructor(private readonly t: TestSystem) {}

  async do(action: WorldAction, checkoutId: string): Promise<void> {
    switch (action.kind) {
      case 'stop':
        await this.dropStandIn(action.participant);
        return this.stop(action.participant);
      case 'start':
        await this.dropStandIn(action.participant);
        return this.start(action.participant);
      case 'fault':
        return this.fault(action.participant, action.command);
      case 'operatorRetry':
        return this.operatorRetry(checkoutId);
      default: {
        const _exhaustive: never = action;
        throw new Error(`unknown world action ${JSON.stringify(_exhaustive)}`);
      }
    }
  }

  /** Brings every participant back, stand-ins removed. */
  async restore(): Promise<void> {
    for (const p of [...this.standIns.keys()]) await this.dropStandIn(p);
    for (const p of [...this.stopped]) await this.start(p);
  }

  private async stop(p: Participant): Promise<void> {
    if (this.stopped.has(p)) return;
    await this.t.system.runtimes.get(p)!.stop();
    this.stopped.add(p);
  }

  private async start(p: Participant): Promise<void> {
    if (!this.stopped.has(p)) return;
    const { config, system } = this.t;
    const old = system.runtimes.get(p)!;
    const store = new Store({
      path: join(config.dataDir, `${p}.db`),
      migrations: migrationsOf[p],
      synchronous: config.synchronous,
      locking: config.locking,
    });
    const rt = new ServiceRuntime({
      service: p,
      source: old.source,
      store,
      transport: await system.transportFor(p),
      clock: old.clock,
      log: old.log,
    });
    if (p === 'inventory') await startInventoryService(rt, { seed: config.seed });
    if (p === 'payment') await startPaymentService(rt, { processor: createSimulator(config.payment) });
    if (p === 'order') await startOrderService(rt, config.order);
    await rt.start();
    system.runtimes.set(p, rt);
    this.stopped.delete(p);
  }

  /** The participant stops; a stand-in on its connection answers `command` with INTERNAL, and nothing else. */
  private async fault(p: Participant, command: ParticipantCommand): Promise<void> {
    await this.stop(p);
    await this.dropStandIn(p);
    const transport = await this.t.system.transportFor(p);
    const closer = await transport.respond(
      subjectOf[command],
      () => errorReply('INTERNAL', `${command} refused by the model test's stand-in`),
      { queue: p },
    );
    this.standIns.set(p, closer);
  }

  private async dropStandIn(p: Participant): Promise<void> {
    const closer = this.standIns.get(p);
    this.standIns.delete(p);
    await closer?.close();
  }

  /**
   * Runs `task` (world changes ending with an operator's retry) holding the saga's mailbox, as
   * every delivery to it does: an answer for the saga meanwhile waits until after the retry. A
   * saga in needsAttention keeps re-sending its compensation, so once the participant is back, an
   * answer to one of those re-sends could otherwise reach it before the operator's retry and take
   * the other path (needsAttention → done, no retry). Held, that answer comes after the retry,
   * which re-sent the request under a new message id, so it is stale and dropped; the re-sent
   * request's answer then moves the saga on, as the path says.
   */
  async holdingSaga(checkoutId: string, task: () => Promise<void>): Promise<void> {
    await this.sagas().exclusive(checkoutId, async () => {
      this.held = checkoutId;
      try {
        await task();
      } finally {
        this.held = undefined;
      }
    });
  }

  private held: string | undefined;

  private sagas(): ActorHost {
    return this.t.system.runtimes.get('checkout')!.hosts.get('checkout') as ActorHost;
  }

  /** There is no operator API: the retry is delivered to the saga host, as an operator tool would. */
  private async operatorRetry(checkoutId: string): Promise<void> {
    const host = this.sagas();
    const deliver = () => host.deliver(checkoutId, { type: 'operator.retry' }, { reply: () => undefined });
    const r = await (this.held === checkoutId ? deliver() : host.exclusive(checkoutId, deliver));
    if (!r.changed) throw new Error(`operator.retry changed nothing for checkout ${checkoutId}`);
  }
}

const migrationsOf = {
  inventory: inventoryMigrations,
  payment: paymentMigrations,
  order: orderMigrations,
} as const;
