/** The catalog's JSON Schemas, compiled with ajv (draft-07 + formats), by message type. */
import { Ajv, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { catalogSchemaPath, isMessageType, type CatalogSchemaRef } from '../../src/contracts/index.ts';

export const catalogRoot = path.resolve(fileURLToPath(new URL('../..', import.meta.url)), '../shared/catalog');

function resolvePointer(doc: unknown, pointer: string): unknown {
  let node = doc;
  for (const key of pointer.split('/').slice(1)) node = (node as Record<string, unknown>)[key.replaceAll('~1', '/').replaceAll('~0', '~')];
  return node;
}

function inlineRefs(node: unknown, doc: unknown): unknown {
  if (Array.isArray(node)) return node.map((n) => inlineRefs(n, doc));
  if (node === null || typeof node !== 'object') return node;
  const obj = node as Record<string, unknown>;
  if (typeof obj.$ref === 'string') return inlineRefs(resolvePointer(doc, obj.$ref.slice(1)), doc);
  return Object.fromEntries(Object.entries(obj).map(([k, v]) => [k, inlineRefs(v, doc)]));
}

export function loadCatalogSchema(ref: CatalogSchemaRef): Record<string, unknown> {
  const text = readFileSync(path.join(catalogRoot, ref.path), 'utf8');
  const doc: unknown = ref.path.endsWith('.yml') ? parseYaml(text) : JSON.parse(text);
  const sub = inlineRefs(resolvePointer(doc, ref.pointer), doc) as Record<string, unknown>;
  return { ...sub, $schema: 'http://json-schema.org/draft-07/schema#' };
}

/** Returns the catalog validator for a ce-type, or undefined for our additions. */
export function catalogValidators(): (type: string) => ValidateFunction | undefined {
  const ajv = new Ajv({ allErrors: true, strict: false });
  addFormats.default(ajv);
  const cache = new Map<string, ValidateFunction>();
  return (type) => {
    if (!isMessageType(type)) return undefined;
    const ref = (catalogSchemaPath as Partial<Record<string, CatalogSchemaRef>>)[type];
    if (!ref) return undefined;
    let v = cache.get(type);
    if (!v) {
      v = ajv.compile(loadCatalogSchema(ref));
      cache.set(type, v);
    }
    return v;
  };
}
