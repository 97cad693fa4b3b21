/**
 * Operator commands, answered by the orchestrator that holds the saga (holder.ts finds it by
 * checkout or order id). `retry-checkout` delivers `operator.retry`: a saga parked in
 * needsAttention re-enters its stuck compensation and sends it again (same idempotency key, so a
 * participant that did act the first time answers as it did). In any other state the machine
 * does not accept it and the operator gets CONFLICT naming the state.
 */
import { OperatorMessageType, RetryCheckoutRequest } from '../../contracts/index.ts';
import { OperatorCommand, retryAtInstance } from '../../contracts/subjects.ts';
import type { ActorHost } from '../../runtime/actor-host.ts';
import { parseMessage } from '../../runtime/inbound.ts';
import { statePaths } from '../../runtime/journal-queries.ts';
import type { ServiceRuntime } from '../../runtime/service.ts';
import { errorReply } from '../../runtime/transport/reply.ts';
import { ErrorCode, RemoteError } from '../../runtime/transport/errors.ts';
import type { Kv, Message, Reply } from '../../runtime/transport/transport.ts';
import type { checkoutMachine } from '../../machines/checkout.ts';
import { forwardToHolder, localCheckoutId } from './holder.ts';

export async function serveOperatorCommands(rt: ServiceRuntime, sagas: ActorHost<typeof checkoutMachine>, instanceId: string, owners: Kv): Promise<void> {
  const retry = async (msg: Message, forward: boolean): Promise<Reply> => {
    const { meta, payload } = parseMessage(msg, RetryCheckoutRequest, OperatorMessageType.retryCheckoutRequest);
    await rt.journal.checkpointIfDirty(); // holder.ts reads the checkpoint
    const id = localCheckoutId(rt.store.db, payload.checkoutId);
    if (!id) {
      const forwarded = forward ? await forwardToHolder(rt, owners, instanceId, payload.checkoutId, retryAtInstance, msg) : undefined;
      if (forwarded) return forwarded;
      throw new RemoteError(ErrorCode.notFound, `no orchestrator holds checkout ${payload.checkoutId}`);
    }
    return sagas.exclusive(id, async () => {
      const r = await sagas.deliver(id, { type: 'operator.retry' }, {
        cause: meta,
        reply: (t) =>
          t.changed ? rt.reply(OperatorMessageType.retryCheckoutResponse, { checkoutId: id, state: statePaths(t.snapshot.value).join(' | ') }, meta) : undefined,
      });
      return r.reply ?? errorReply(ErrorCode.internal, 'no reply');
    });
  };
  await rt.respond(OperatorCommand.retryCheckout, (msg) => retry(msg, true));
  await rt.respond(retryAtInstance(instanceId), (msg) => retry(msg, false));
}
