/**
 * The committed contract artifacts (contracts/): current with the code (run `npm run contracts`
 * after changing a contract), the AsyncAPI document valid AsyncAPI 3.0 (the JSON Schema that
 * @asyncapi/specs ships, with ajv) and internally consistent, and the EventCatalog folder in the
 * layout EventCatalog reads. tests/int/wire.test.ts checks the AsyncAPI against the real wire.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { Ajv } from 'ajv';
import addFormats from 'ajv-formats';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { asyncApiDocument } from '../../src/contracts/artifacts/asyncapi.ts';
import { contractFiles } from '../../src/contracts/artifacts/files.ts';
import { schemaTypes } from '../../src/contracts/artifacts/json-schemas.ts';
import { eventChannels, requestChannels } from '../../src/contracts/channels.ts';
import { Event, Stream } from '../../src/contracts/subjects.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
const asyncApi = asyncApiDocument() as unknown as AsyncApi;

interface AsyncApi {
  asyncapi: string;
  channels: Record<string, { address: string | null; messages?: Record<string, { $ref: string }>; 'x-catalog-channel'?: string }>;
  operations: Record<string, { action: string; channel: { $ref: string }; messages: { $ref: string }[]; reply?: { channel: { $ref: string }; messages: { $ref: string }[] } }>;
  components: { messages: Record<string, { name: string; payload: unknown; 'x-eventcatalog-message-version': string }> };
}

/** Resolves a local `#/a/b` reference in the document. */
function resolve(doc: unknown, ref: string): unknown {
  let node = doc;
  for (const key of ref.slice(2).split('/')) node = (node as Record<string, unknown> | undefined)?.[key.replaceAll('~1', '/').replaceAll('~0', '~')];
  return node;
}

function refsIn(node: unknown, out: string[] = []): string[] {
  if (Array.isArray(node)) for (const n of node) refsIn(n, out);
  else if (node && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) {
      if (k === '$ref' && typeof v === 'string') out.push(v);
      else refsIn(v, out);
    }
  }
  return out;
}

describe('contract artifacts', () => {
  describe('contracts/', () => {
    it('is up to date with src/contracts (run `npm run contracts` after changing a contract)', () => {
      const stale = contractFiles().filter((f) => {
        const path = `${root}/${f.path}`;
        return !existsSync(path) || readFileSync(path, 'utf8') !== f.content;
      });
      expect(stale.map((f) => f.path)).toEqual([]);
    });

    it('holds one JSON Schema per message type, each naming its ce-dataschema as $id', () => {
      const schemas = contractFiles().filter((f) => f.path.startsWith('contracts/schemas/'));
      expect(schemas).toHaveLength(schemaTypes.length);
      for (const f of schemas) expect((JSON.parse(f.content) as { $id: string }).$id).toMatch(/^urn:place-an-order:schema:[a-z.-]+:\d+\.\d+\.\d+$/);
    });
  });

  describe('the AsyncAPI document', () => {
    it('is valid AsyncAPI 3.0.0', () => {
      const require = createRequire(import.meta.url);
      const spec = require('@asyncapi/specs/schemas/3.0.0.json') as { definitions: Record<string, unknown> };
      // The bundle embeds its own copy of the draft-07 meta-schema, which ajv already holds.
      const { 'http://json-schema.org/draft-07/schema': _metaSchema, ...definitions } = spec.definitions;
      const ajv = new Ajv({ allErrors: true, strict: false, validateFormats: true });
      addFormats.default(ajv);
      const validate = ajv.compile({ ...spec, definitions });
      expect(validate(asyncApi), JSON.stringify(validate.errors, null, 1)).toBe(true);
      expect(asyncApi.asyncapi).toBe('3.0.0');
      // The check has teeth: a channel without the required shape is refused.
      expect(validate({ ...asyncApi, channels: { broken: { address: 42 } } })).toBe(false);
    });

    it('resolves every $ref, and every operation sends messages of its own channel', () => {
      const unresolved = refsIn(asyncApi).filter((r) => resolve(asyncApi, r) === undefined);
      expect(unresolved).toEqual([]);
      for (const [id, op] of Object.entries(asyncApi.operations)) {
        const channel = op.channel.$ref;
        for (const m of op.messages) expect(m.$ref.startsWith(`${channel}/messages/`), id).toBe(true);
        for (const m of op.reply?.messages ?? []) expect(m.$ref.startsWith(`${op.reply!.channel.$ref}/messages/`), id).toBe(true);
      }
    });

    it('has a channel for every request and event subject, with a receiver and a sender', () => {
      const addresses = new Set(Object.values(asyncApi.channels).map((c) => c.address));
      const subjects = [...requestChannels.map((c) => c.subject), ...eventChannels.map((c) => c.subject)];
      expect(subjects.filter((s) => !addresses.has(s))).toEqual([]);
      expect(Object.values(Event).filter((s) => !eventChannels.some((c) => c.subject === s))).toEqual([]);
      for (const c of requestChannels) {
        const ops = Object.values(asyncApi.operations).filter((o) => (resolve(asyncApi, o.channel.$ref) as { address: string }).address === c.subject);
        expect(ops.map((o) => o.action).sort(), c.subject).toEqual(['receive', ...c.senders.map(() => 'send')].sort());
      }
    });

    it("receives every order event on one subscription, which it maps to the catalog's ordering.orders", () => {
      const ordering = Stream.ordering.subjects[0];
      const orderEvents = eventChannels.filter((c) => c.publisher === 'order').map((c) => c.subject);
      const underPrefix = Object.values(Event).filter((s) => s.startsWith('ordering.evt.'));
      expect(ordering).toBe('ordering.evt.>');
      expect(underPrefix.sort()).toEqual(orderEvents.sort());
      const mapped = Object.values(asyncApi.channels).filter((c) => c['x-catalog-channel'] === 'ordering.orders');
      expect(mapped.map((c) => c.address).sort()).toEqual(orderEvents.sort());
    });

    it("gives each message the catalog's name, version and schema", () => {
      for (const type of schemaTypes) {
        const m = asyncApi.components.messages[type.replaceAll('.', '_')];
        expect(m?.name).toBe(type);
        expect(m?.['x-eventcatalog-message-version']).toMatch(/^\d+\.\d+\.\d+$/);
        expect(m?.payload).toMatchObject({ type: 'object' });
      }
    });
  });

  describe('the generated EventCatalog', () => {
    const catalog = contractFiles().filter((f) => f.path.startsWith('contracts/eventcatalog/'));
    const frontmatter = (content: string) => parseYaml(/^---\n([\s\S]*?)\n---/.exec(content)?.[1] ?? '') as Record<string, unknown>;

    it('has a page with id, name and version, and a schema.json, for every message, under its service', () => {
      const pages = catalog.filter((f) => /\/services\/[^/]+\/(commands|events|queries)\/[^/]+\/index\.mdx$/.test(f.path));
      expect(pages.length).toBeGreaterThan(30);
      for (const page of pages) {
        const front = frontmatter(page.content);
        expect(typeof front.id, page.path).toBe('string');
        expect(typeof front.name, page.path).toBe('string');
        expect(front.version, page.path).toMatch(/^\d+\.\d+\.\d+$/);
        expect(front.schemaPath, page.path).toBe('schema.json');
        expect(catalog.some((f) => f.path === page.path.replace('index.mdx', 'schema.json')), page.path).toBe(true);
      }
    });

    it('lists on each service page only messages the catalog holds, and has domains, systems and the flow', () => {
      const messageIds = new Set(catalog.filter((f) => /\/(commands|events|queries)\/[^/]+\/index\.mdx$/.test(f.path)).map((f) => frontmatter(f.content).id));
      const services = catalog.filter((f) => /\/services\/[^/]+\/index\.mdx$/.test(f.path));
      expect(services).toHaveLength(7);
      for (const s of services) {
        const front = frontmatter(s.content) as { sends: { id: string }[]; receives: { id: string }[] };
        for (const m of [...front.sends, ...front.receives]) expect(messageIds.has(m.id), `${s.path}: ${m.id}`).toBe(true);
      }
      expect(catalog.filter((f) => /^contracts\/eventcatalog\/domains\/[^/]+\/index\.mdx$/.test(f.path))).toHaveLength(4);
      const flow = catalog.find((f) => f.path.endsWith('flows/PlaceAnOrder/index.mdx'));
      const steps = (frontmatter(flow!.content) as { steps: { message?: { id: string } }[] }).steps;
      for (const s of steps) if (s.message) expect(messageIds.has(s.message.id), s.message.id).toBe(true);
    });
  });
});
