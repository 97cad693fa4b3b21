/**
 * Every machine of the system, with its version and how its actors are created, for the tools
 * that draw or replay them (npm run viz, npm run replay, the explorer). Pure: only src/machines.
 * Each actor definition creates its actor with `input: (id) => ({ id })`; tests/unit/viz.test.ts
 * checks that this registry agrees.
 */
import type { AnyStateMachine } from 'xstate';
import { authorizationMachine, authorizationMachineVersion } from '../../machines/authorization.ts';
import { cartMachine, cartMachineVersion } from '../../machines/cart.ts';
import { checkoutMachine, checkoutMachineVersion } from '../../machines/checkout.ts';
import { orderMachine, orderMachineVersion } from '../../machines/order.ts';
import { reservationMachine, reservationMachineVersion } from '../../machines/reservation.ts';
import { partitionedReservationMachine, partitionedReservationMachineVersion } from '../../machines/partitioned-reservation.ts';

export interface MachineEntry {
  /** The actor kind, which is also the file name under docs/machines. */
  name: string;
  /** Where it is defined, for generated headers. */
  source: string;
  machine: AnyStateMachine;
  version: string;
  input(id: string): unknown;
}

const byId = (id: string) => ({ id });

export const machines: readonly MachineEntry[] = [
  { name: 'checkout', source: 'src/machines/checkout.ts', machine: checkoutMachine, version: checkoutMachineVersion, input: byId },
  { name: 'cart', source: 'src/machines/cart.ts', machine: cartMachine, version: cartMachineVersion, input: byId },
  { name: 'reservation', source: 'src/machines/reservation.ts', machine: reservationMachine, version: reservationMachineVersion, input: byId },
  { name: 'partitioned-reservation', source: 'src/machines/partitioned-reservation.ts', machine: partitionedReservationMachine, version: partitionedReservationMachineVersion, input: byId },
  { name: 'authorization', source: 'src/machines/authorization.ts', machine: authorizationMachine, version: authorizationMachineVersion, input: byId },
  { name: 'order', source: 'src/machines/order.ts', machine: orderMachine, version: orderMachineVersion, input: byId },
];

export function machineNamed(name: string): MachineEntry | undefined {
  return machines.find((m) => m.name === name);
}
