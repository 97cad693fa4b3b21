/** Every machine's model, by the name `npm run paths -- --machine <name>` takes. */
import type { MachineModel } from '../model.ts';
import { cartModel } from './cart.ts';
import { checkoutModel } from './checkout.ts';
import { authorizationModel, orderModel, partitionedReservationModel, reservationModel } from './participants.ts';

export const machineModels: Readonly<Record<string, MachineModel>> = {
  checkout: checkoutModel,
  cart: cartModel,
  reservation: reservationModel,
  'partitioned-reservation': partitionedReservationModel,
  authorization: authorizationModel,
  order: orderModel,
};

export const machineNames = Object.keys(machineModels);
