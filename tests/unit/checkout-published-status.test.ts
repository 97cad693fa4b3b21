/**
 * The status a saga published last, read back from its state: what get-checkout answers once the
 * checkout's document has expired from the `checkouts` bucket. Each state that publishes does so on
 * entry, so the innermost active state that has a publishStatus entry names it.
 */
import type { AnyMachineSnapshot } from 'xstate';
import { describe, expect, it } from 'vitest';
import { publishedStatus } from '../../src/actors/checkout/definition.ts';

const at = (value: unknown) => publishedStatus({ value } as AnyMachineSnapshot);

describe('the status a saga published, from its state', () => {
  it('names each step, the end and the parked compensation', () => {
    expect(at('reservingInventory')).toEqual({ status: 'PENDING', step: 'RESERVING_INVENTORY' });
    expect(at('creatingOrder')).toEqual({ status: 'PENDING', step: 'CREATING_ORDER' });
    expect(at('confirmed')).toEqual({ status: 'CONFIRMED', step: 'DONE' });
    expect(at('cancelled')).toEqual({ status: 'CANCELLED', step: 'DONE' });
    expect(at({ compensating: { releasingInventory: 'trying' } })).toEqual({ status: 'PENDING', step: 'COMPENSATING' });
    expect(at({ compensating: { voidingPayment: 'needsAttention' } })).toEqual({ status: 'NEEDS_ATTENTION', step: 'COMPENSATING' });
  });

  it('names nothing before the saga started, or for a state the machine does not have', () => {
    expect(at('idle')).toBeUndefined();
    expect(at('gone')).toBeUndefined();
  });
});
