/**
 * One JSON Schema (draft-07, as the catalog writes them) per message type, derived from its zod
 * schema: what a consumer in any language validates against. `$id` is the message's
 * `ce-dataschema`, so a message names the exact file it follows.
 */
import { z } from 'zod';
import { dataSchemaOf, schemaOf, versionOf, type SchemaType } from '../index.ts';
import { MessageType } from '../index.ts';
import { ExplorerMessageType } from '../messages/checkout.ts';

export type JsonSchema = Record<string, unknown>;

/** Every type with a schema: the shop's messages, then the explorer's diagnostics. */
export const schemaTypes: readonly SchemaType[] = [...Object.values(MessageType), ...Object.values(ExplorerMessageType)];

/** `add-item-to-cart` -> `Add Item To Cart`, `get-order.request` -> `Get Order Request`: the catalog's naming. */
export function displayName(type: string): string {
  return type
    .split(/[-.]/)
    .map((w) => w.charAt(0).toUpperCase() + w.slice(1))
    .join(' ');
}

/** The JSON Schema of a message type, as committed under contracts/schemas. */
export function messageJsonSchema(type: SchemaType): JsonSchema {
  const body = z.toJSONSchema(schemaOf(type), { target: 'draft-07', io: 'input' }) as JsonSchema;
  const { $schema, ...rest } = body;
  return {
    $schema,
    $id: dataSchemaOf(type),
    title: displayName(type),
    description: `The body of a \`ce-type: ${type}\` message, version ${versionOf(type)}.`,
    ...rest,
  };
}

/** The committed file of a message type's schema, relative to the repo root. */
export const schemaFile = (type: SchemaType): string => `contracts/schemas/${type}.json`;
