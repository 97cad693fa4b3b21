/**
 * An EventCatalog folder generated from the contracts, in the upstream catalog's layout:
 * `domains/<Domain>/systems/<system>/services/<Service>/{commands,events,queries}/<Message>/`
 * with an `index.mdx` (frontmatter: id, name, version, summary, schemaPath) and a `schema.json`,
 * a page per service (what it sends and receives), system and domain, and the Place an Order flow
 * drawn from the saga's steps. A query's schema has `request` and `response` halves, as upstream.
 * Used by `npm run contracts` (a dev tool: `yaml` is a dev dependency).
 */
import { stringify } from 'yaml';
import { eventChannels, requestChannels } from '../channels.ts';
import { MessageType, versionOf, type SchemaType } from '../index.ts';
import { Command, Service } from '../subjects.ts';
import { displayName, messageJsonSchema, type JsonSchema } from './json-schemas.ts';

export interface GeneratedFile {
  path: string;
  content: string;
}

interface Place {
  domain: string;
  system: string;
  id: string;
  folder: string;
  name: string;
  summary: string;
}

/** Where each service sits, with the upstream catalog's ids where it has one. */
const places: Record<Service, Place> = {
  gateway: { domain: 'Shopping', system: 'storefront', id: 'storefront-gateway', folder: 'StorefrontGateway', name: 'Storefront Gateway', summary: 'The HTTP API and storefront: turns shoppers\' requests into commands and queries.' },
  cart: { domain: 'Shopping', system: 'cart-system', id: 'cart-api', folder: 'CartAPI', name: 'Cart API', summary: 'Carts and products; checks a cart out and publishes cart-checked-out.' },
  promotion: { domain: 'Shopping', system: 'promotion-system', id: 'promotion-service', folder: 'PromotionService', name: 'Promotion Service', summary: 'Calculates the discount for a cart.' },
  checkout: { domain: 'Ordering', system: 'checkout-system', id: 'checkout-orchestrator', folder: 'CheckoutOrchestrator', name: 'Checkout Orchestrator', summary: 'Runs one checkout saga per checked-out cart: reserve, authorize, create, or compensate.' },
  order: { domain: 'Ordering', system: 'order-management-system', id: 'order-service', folder: 'OrderService', name: 'Order Service', summary: 'The system of record for orders.' },
  inventory: { domain: 'Fulfilment', system: 'inventory-system', id: 'inventory-service', folder: 'InventoryService', name: 'Inventory Service', summary: 'Reserves, releases and consumes stock.' },
  payment: { domain: 'Payments', system: 'payment-processing-system', id: 'payment-api', folder: 'PaymentAPI', name: 'Payment API', summary: 'Authorizes, voids and captures payments.' },
};

type Kind = 'commands' | 'events' | 'queries';
interface CatalogMessage {
  id: string;
  kind: Kind;
  owner: Service;
  schema: JsonSchema;
  version: string;
  summary: string;
}

const VERSION = '1.0.0';
const ref = (id: string, version: string) => ({ id, version });
const messageId = (type: SchemaType): string => type.replace(/\.request$/, '');
const folderOf = (id: string): string => displayName(id).replaceAll(' ', '');
const bare = (type: SchemaType): JsonSchema => {
  const { $schema: _s, $id: _i, ...rest } = messageJsonSchema(type);
  return rest;
};

/** Commands and queries by their receiver, events by their publisher (order-rejected: a create-order outcome). */
function catalogMessages(): CatalogMessage[] {
  const out: CatalogMessage[] = [];
  for (const c of requestChannels) {
    const id = messageId(c.request);
    const replies = [...c.replies, MessageType.error].map((r) => `\`${r}\``).join(', ');
    const halves = c.kind === 'query' || c.request.endsWith('.request');
    const schema = halves
      ? {
          $schema: 'http://json-schema.org/draft-07/schema#',
          title: displayName(id),
          type: 'object',
          properties: { request: bare(c.request), response: bare(c.replies[0] ?? MessageType.error) },
          required: ['request', 'response'],
        }
      : messageJsonSchema(c.request);
    out.push({
      id,
      kind: c.kind === 'query' ? 'queries' : 'commands',
      owner: c.receiver,
      schema,
      version: versionOf(c.request),
      summary: `Request/reply on \`${c.subject}\`, answered by the ${places[c.receiver].name}; replies ${replies}.`,
    });
  }
  for (const e of eventChannels) {
    out.push({ id: e.message, kind: 'events', owner: e.publisher, schema: messageJsonSchema(e.message), version: versionOf(e.message), summary: `Published on \`${e.subject}\` (stream ${e.stream}) by the ${places[e.publisher].name}.` });
  }
  out.push({ id: MessageType.orderRejected, kind: 'events', owner: Service.order, schema: messageJsonSchema(MessageType.orderRejected), version: versionOf(MessageType.orderRejected), summary: 'The reply to create-order when the Order Service refuses the order.' });
  return out;
}

const mdx = (front: Record<string, unknown>, body: string): string => `---\n${stringify(front, { lineWidth: 0 })}---\n\n${body.trim()}\n`;

function messageFiles(m: CatalogMessage): GeneratedFile[] {
  const p = places[m.owner];
  const dir = `domains/${p.domain}/systems/${p.system}/services/${p.folder}/${m.kind}/${folderOf(m.id)}`;
  const front = { id: m.id, name: displayName(m.id), version: m.version, summary: m.summary, schemaPath: 'schema.json' };
  return [
    { path: `${dir}/index.mdx`, content: mdx(front, `## Overview\n\n${m.summary}\n\n<SchemaViewer file="schema.json" title="JSON Schema" maxHeight="500" />\n\n<NodeGraph />`) },
    { path: `${dir}/schema.json`, content: `${JSON.stringify(m.schema, null, 2)}\n` },
  ];
}

function serviceFiles(service: Service, messages: readonly CatalogMessage[]): GeneratedFile[] {
  const p = places[service];
  const byId = new Map(messages.map((m) => [m.id, m]));
  const refOf = (id: string) => ref(id, byId.get(id)?.version ?? VERSION);
  const receives = [
    ...requestChannels.filter((c) => c.receiver === service).map((c) => messageId(c.request)),
    ...eventChannels.filter((e) => e.consumers.some((d) => d.service === service)).map((e) => e.message),
  ];
  const sends = [
    ...eventChannels.filter((e) => e.publisher === service).map((e) => e.message),
    ...(service === Service.order ? [MessageType.orderRejected] : []),
    ...requestChannels.filter((c) => c.senders.includes(service)).map((c) => messageId(c.request)),
  ];
  const front = { id: p.id, version: VERSION, name: p.name, summary: p.summary, receives: [...new Set(receives)].map(refOf), sends: [...new Set(sends)].map(refOf) };
  return [{ path: `domains/${p.domain}/systems/${p.system}/services/${p.folder}/index.mdx`, content: mdx(front, `## Overview\n\n${p.summary}\n\n<NodeGraph />`) }];
}

function containerFiles(): GeneratedFile[] {
  const files: GeneratedFile[] = [];
  const domains = [...new Set(Object.values(places).map((p) => p.domain))];
  for (const domain of domains) {
    const inDomain = Object.values(places).filter((p) => p.domain === domain);
    const systems = [...new Set(inDomain.map((p) => p.system))];
    for (const system of systems) {
      const services = inDomain.filter((p) => p.system === system);
      const front = { id: system, name: displayName(system), version: VERSION, summary: `${services.map((s) => s.name).join(', ')}.`, services: services.map((s) => ({ id: s.id })) };
      files.push({ path: `domains/${domain}/systems/${system}/index.mdx`, content: mdx(front, '<NodeGraph />') });
    }
    const front = {
      id: domain.toLowerCase(),
      name: domain,
      version: VERSION,
      summary: `The ${domain} domain of Place an Order, as the code runs it.`,
      systems: systems.map((s) => ref(s, VERSION)),
      ...(domain === 'Ordering' ? { flows: [ref('place-an-order', VERSION)] } : {}),
    };
    files.push({ path: `domains/${domain}/index.mdx`, content: mdx(front, '<NodeGraph />') });
  }
  return files;
}

/** The saga's forward steps and compensations, in the order the checkout machine runs them. */
function flowFile(): GeneratedFile {
  const step = (id: string, title: string, what: Record<string, unknown>, next?: unknown) => ({ id, title, ...what, ...(next ? next : {}) });
  const to = (id: string, label: string) => ({ next_step: { id, label } });
  const msg = (id: string) => ({ message: ref(id, VERSION) });
  const svc = (s: Service) => ({ service: ref(places[s].id, VERSION) });
  const request = (c: Command) => requestChannels.find((r) => r.subject === c)!;
  const steps = [
    step('shopper', 'Shopper checks out', { actor: { name: 'Shopper' } }, to('checkout_cart', 'POST /carts/{cartId}/checkout')),
    step('checkout_cart', 'Checkout Cart', msg(messageId(request(Command.checkoutCart).request)), to('cart_api', 'price the cart')),
    step('cart_api', 'Cart API', svc(Service.cart), to('cart_checked_out', 'publish')),
    step('cart_checked_out', 'Cart Checked Out', msg(MessageType.cartCheckedOut), to('orchestrator', 'durable consumer')),
    step('orchestrator', 'Checkout Orchestrator', svc(Service.checkout), to('reserve_inventory', 'reserve')),
    step('reserve_inventory', 'Reserve Inventory', msg(MessageType.reserveInventory), {
      next_steps: [
        { id: 'authorize_payment', label: 'inventory-reserved' },
        { id: 'compensate', label: 'inventory-unavailable or deadline' },
      ],
    }),
    step('authorize_payment', 'Authorize Payment', msg(MessageType.authorizePayment), {
      next_steps: [
        { id: 'create_order', label: 'payment-authorized' },
        { id: 'compensate', label: 'payment-declined or deadline' },
      ],
    }),
    step('create_order', 'Create Order', msg(MessageType.createOrder), {
      next_steps: [
        { id: 'order_created', label: 'order-created' },
        { id: 'compensate', label: 'order-rejected or deadline' },
      ],
    }),
    step('order_created', 'Order Created', msg(MessageType.orderCreated)),
    step('compensate', 'Compensate, newest first', { custom: { title: 'Compensate', type: 'Exception', summary: 'Undo every attempted step: void the payment, release the inventory, cancel the order.' } }, to('void_payment', 'if authorization was attempted')),
    step('void_payment', 'Void Payment', msg(MessageType.voidPayment), to('release_inventory', 'payment-voided')),
    step('release_inventory', 'Release Inventory', msg(MessageType.releaseInventory), to('cancel_order', 'inventory-released')),
    step('cancel_order', 'Cancel Order', msg(MessageType.cancelOrder), to('order_cancelled', 'reason and detail')),
    step('order_cancelled', 'Order Cancelled', msg(MessageType.orderCancelled)),
  ];
  const front = { id: 'place-an-order', name: 'Place an Order', version: VERSION, summary: 'From a checked-out cart to a created order, or a compensated, cancelled one.', steps };
  return { path: 'domains/Ordering/flows/PlaceAnOrder/index.mdx', content: mdx(front, '<NodeGraph />') };
}

/** Every file of the generated catalog, paths relative to its root. */
export function eventCatalogFiles(): GeneratedFile[] {
  const messages = catalogMessages();
  return [
    { path: 'README.md', content: '# Place an Order: the generated EventCatalog\n\nGenerated from `src/contracts` by `npm run contracts`; do not edit. The layout follows the upstream catalog (`CATALOG_DIR`): domains, systems, services, and each service\'s commands, events and queries with `index.mdx` and `schema.json`, plus the Place an Order flow.\n' },
    ...containerFiles(),
    ...Object.values(Service).flatMap((s) => serviceFiles(s, messages)),
    ...messages.flatMap(messageFiles),
    flowFile(),
  ];
}
