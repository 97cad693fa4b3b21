/**
 * NatsTransport publishes to JetStream through its own reply subscription and reads the PubAck
 * itself (src/runtime/transport/nats.ts): the bodies below are what nats-server 2.9 answers.
 */
import { errors as natsErrors } from '@nats-io/transport-node';
import { describe, expect, it } from 'vitest';
import { NoRespondersError, RequestTimeoutError, TransportClosedError, TransportError } from '../../src/runtime/transport/errors.ts';
import { mapNatsError, pubAckOf } from '../../src/runtime/transport/nats-mapping.ts';

describe('pubAckOf', () => {
  it('reads a stored and a duplicate publish', () => {
    expect(pubAckOf('s', '{"stream":"SHOPPING","seq":7}')).toEqual({ stream: 'SHOPPING', seq: 7, duplicate: false });
    expect(pubAckOf('s', '{"stream":"SHOPPING","seq":7,"duplicate":true}')).toEqual({ stream: 'SHOPPING', seq: 7, duplicate: true });
  });

  it('turns a refusal into a TransportError naming the subject and the reason', () => {
    const refused = () => pubAckOf('shopping.evt.x', '{"error":{"code":503,"err_code":10077,"description":"maximum messages exceeded"},"stream":"SHOPPING","seq":0}');
    expect(refused).toThrow(TransportError);
    expect(refused).toThrow('JetStream refused the publish to shopping.evt.x: maximum messages exceeded (503/10077)');
  });

  it('refuses a body that is not an acknowledgement', () => {
    expect(() => pubAckOf('s', 'hello')).toThrow(TransportError);
    expect(() => pubAckOf('s', '{"seq":1}')).toThrow('not a JetStream acknowledgement');
  });
});

describe('mapNatsError', () => {
  it('translates nats.js errors into the contract typed errors and keeps the original as the cause', () => {
    const timeout = new natsErrors.TimeoutError();
    const timedOut = mapNatsError(timeout, 'order.cmd.create', 2_000);
    expect(timedOut).toBeInstanceOf(RequestTimeoutError);
    expect(timedOut.cause).toBe(timeout);

    const none = new natsErrors.NoRespondersError('order.cmd.create');
    const noResponders = mapNatsError(none, 'order.cmd.create', 2_000);
    expect(noResponders).toBeInstanceOf(NoRespondersError);
    expect(noResponders.cause).toBe(none);

    const draining = new natsErrors.DrainingConnectionError();
    const closed = mapNatsError(draining, 'order.cmd.create', 2_000);
    expect(closed).toBeInstanceOf(TransportClosedError);
    expect(closed.cause).toBe(draining);

    const odd = mapNatsError('socket hang up', 'order.cmd.create', 2_000);
    expect(odd).toBeInstanceOf(TransportError);
    expect(odd.cause).toBe('socket hang up');
  });
});
