/**
 * One socket write per event-loop turn for a nats.js connection.
 *
 * nats.js queues each command (PUB, HPUB, ACK, PING ...) in the connection's outbound buffer and,
 * when the buffer was empty, flushes it in a microtask (`ProtocolHandler.sendCommand`): every
 * macrotask that sends anything (a socket read's deliveries, a store's commit on setImmediate, the
 * WAL sync's callback, a timer) ends in a `write` of its own. A service handles each delivery, each
 * reply and each acknowledgement in a turn of its own, so under load a process made several writes
 * where one would do; each is a system call that on loopback also runs the receiver's TCP stack
 * (`writeBuffer` was 8-10% of all processes' sampled time at C=32, docs/benchmarks.md).
 *
 * Here the flush is scheduled with setImmediate instead: everything sent in the same turn of the
 * event loop (the poll phase's I/O callbacks and their microtasks) leaves in one write, in the check
 * phase of that turn, before the loop waits for I/O again. Order is kept (one buffer, drained whole),
 * nothing waits for a later turn's I/O, and a buffer over nats.js's threshold (32 KiB) is still
 * written at once, as before. Commands queued while disconnected stay in the buffer and go out on
 * reconnect, as before (flushPending sends nothing while not connected).
 *
 * This reaches into nats.js's protocol handler (`nc.protocol`, pinned at @nats-io/nats-core 3.x);
 * if its shape is not the one expected, the connection is left as nats.js made it.
 */
import type { NatsConnection } from '@nats-io/transport-node';

interface OutboundBuffer {
  fill(a: Uint8Array, ...bufs: Uint8Array[]): void;
  size(): number;
}

interface ProtocolHandlerShape {
  outbound: OutboundBuffer;
  pendingLimit: number;
  flushPending(): void;
  sendCommand(cmd: string | Uint8Array, ...payloads: Uint8Array[]): void;
}

const encoder = new TextEncoder();

function protocolOf(nc: NatsConnection): ProtocolHandlerShape | undefined {
  const ph = (nc as unknown as { protocol?: Partial<ProtocolHandlerShape> }).protocol;
  if (!ph || typeof ph.sendCommand !== 'function' || typeof ph.flushPending !== 'function') return undefined;
  const out = ph.outbound;
  if (!out || typeof out.fill !== 'function' || typeof out.size !== 'function' || typeof ph.pendingLimit !== 'number') return undefined;
  return ph as ProtocolHandlerShape;
}

/**
 * Makes `nc` flush its outbound buffer once per event-loop turn (above). Returns false, changing
 * nothing, if the connection's internals are not as expected.
 */
export function flushOncePerTurn(nc: NatsConnection): boolean {
  const ph = protocolOf(nc);
  if (!ph) return false;
  let scheduled = false;
  const flush = (): void => {
    scheduled = false;
    ph.flushPending();
  };
  ph.sendCommand = (cmd, ...payloads) => {
    ph.outbound.fill(typeof cmd === 'string' ? encoder.encode(cmd) : cmd, ...payloads);
    if (ph.outbound.size() >= ph.pendingLimit) {
      ph.flushPending();
    } else if (!scheduled) {
      scheduled = true;
      setImmediate(flush);
    }
  };
  return true;
}
