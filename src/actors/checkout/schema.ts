/** The Checkout Orchestrator's store: the actor host's tables hold the sagas; nothing else is needed. */
import { runtimeMigrations } from '../../runtime/schema.ts';
import type { Migration } from '../../runtime/store.ts';

export const checkoutMigrations: readonly Migration[] = [...runtimeMigrations];

/** A stored saga context must parse before the host uses it (its type is the machine's context). */
export { CheckoutContextSchema } from '../../machines/checkout-context.ts';
