/**
 * Every committed contract artifact under `contracts/`: one JSON Schema per message, the AsyncAPI
 * document and the generated EventCatalog. `npm run contracts` writes them; a test fails when any
 * is stale, as it does for the machine diagrams.
 */
import { asyncApiDocument } from './asyncapi.ts';
import { eventCatalogFiles, type GeneratedFile } from './eventcatalog.ts';
import { messageJsonSchema, schemaFile, schemaTypes } from './json-schemas.ts';

export type { GeneratedFile } from './eventcatalog.ts';

/** The folder the artifacts live in, relative to the repo root. */
export const CONTRACTS_DIR = 'contracts';

const json = (value: unknown): string => `${JSON.stringify(value, null, 2)}\n`;

/** Every artifact, paths relative to the repo root. */
export function contractFiles(): GeneratedFile[] {
  return [
    ...schemaTypes.map((t) => ({ path: schemaFile(t), content: json(messageJsonSchema(t)) })),
    { path: `${CONTRACTS_DIR}/asyncapi.json`, content: json(asyncApiDocument()) },
    ...eventCatalogFiles().map((f) => ({ path: `${CONTRACTS_DIR}/eventcatalog/${f.path}`, content: f.content })),
  ];
}
