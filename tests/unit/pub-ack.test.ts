/**
 * NatsTransport publishes to JetStream through its own reply subscription and reads the PubAck
 * itself (src/runtime/transport/nats.ts): the bodies below are what nats-server 2.9 answers.
 */
import { describe, expect, it } from 'vitest';
import { TransportError } from '../../src/runtime/transport/errors.ts';
import { pubAckOf } from '../../src/runtime/transport/nats-mapping.ts';

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
