/**
 * The AsyncAPI 3.0 document of everything Place an Order puts on NATS, built from the contracts:
 * channels are the real subjects (request/reply subjects, event subjects with their JetStream
 * stream and durable consumers, the KV buckets, the services' pings and the explorer's queries);
 * messages carry the catalog's names, versions and schemas; operations say who sends and who
 * receives. Committed as contracts/asyncapi.json and served by the gateway at /asyncapi.json.
 */
import { catalogChannelMapping, eventChannels, requestChannels, type EventChannel, type RequestChannel } from '../channels.ts';
import { Header } from '../headers.ts';
import { MessageType, catalogSchemaPath, dataSchemaOf, versionOf, type SchemaType } from '../index.ts';
import { ExplorerMessageType } from '../messages/checkout.ts';
import { Bucket, ExplorerQuery, Service, Stream } from '../subjects.ts';
import { displayName, messageJsonSchema, schemaTypes, type JsonSchema } from './json-schemas.ts';

/** The catalog's kind of each message, for EventCatalog's AsyncAPI generator (`x-eventcatalog-*`). */
export type MessageKind = 'command' | 'query' | 'event';

/** Each message type's kind: what a request is, replies and events are events. */
export function kindOf(type: SchemaType): MessageKind {
  const request = requestChannels.find((c) => c.request === type);
  if (request) return request.kind;
  if (type === ExplorerMessageType.listCheckoutsRequest || type === ExplorerMessageType.getCheckoutTraceRequest) return 'query';
  return 'event';
}

/** A JSON Pointer-safe component key: `get-order.request` -> `get-order_request`. */
const key = (type: string): string => type.replaceAll('.', '_');
const ref = (pointer: string) => ({ $ref: `#/${pointer}` });
const channelId = (subject: string): string => subject.replaceAll('$', '').replaceAll('>', 'all').replaceAll('*', 'any');

/** The CloudEvents headers (binary mode of the NATS binding) every typed message carries. */
const cloudEventsHeaders: JsonSchema = {
  type: 'object',
  required: [Header.id, Header.type, Header.source, Header.time, Header.specVersion, Header.correlationId],
  properties: {
    [Header.specVersion]: { type: 'string', const: '1.0' },
    [Header.id]: { type: 'string', description: 'Unique per message.' },
    [Header.type]: { type: 'string', description: 'The message type (catalog id; `<id>.request`/`.response` for query halves).' },
    [Header.source]: { type: 'string', description: 'The sending service, e.g. `urn:acme:ordering:order-service`.' },
    [Header.time]: { type: 'string', format: 'date-time' },
    [Header.dataSchema]: { type: 'string', description: 'The `$id` of the JSON Schema the body follows: type and version.' },
    [Header.correlationId]: { type: 'string', description: 'The id of the first message of the flow; kept by every message it causes.' },
    [Header.causationId]: { type: 'string', description: 'The id of the message that caused this one.' },
    [Header.idempotencyKey]: { type: 'string', description: 'Commands: `<sagaId>:<message type>`; a repeat gets the stored reply.' },
    [Header.traceparent]: { type: 'string', description: 'W3C trace context.' },
    [Header.errorCode]: { type: 'string', description: 'Error replies only: the `code` of the body.' },
    [Header.natsMsgId]: { type: 'string', description: 'Events: JetStream de-duplication id.' },
  },
};

/** Shared and recursive parts of the payloads, which zod puts under `definitions`, hoisted to components. */
const hoisted: Record<string, JsonSchema> = {};

/** A message's payload schema with its `definitions` moved to `#/components/schemas/<type>_<name>`. */
function payloadOf(type: SchemaType): JsonSchema {
  const { $schema: _s, $id: _i, definitions, ...payload } = messageJsonSchema(type);
  const prefix = `${key(type)}_`;
  const rewrite = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(rewrite);
    if (!node || typeof node !== 'object') return node;
    return Object.fromEntries(
      Object.entries(node).map(([k, v]) => [k, k === '$ref' && typeof v === 'string' ? v.replace('#/definitions/', `#/components/schemas/${prefix}`) : rewrite(v)]),
    );
  };
  for (const [name, schema] of Object.entries((definitions ?? {}) as Record<string, JsonSchema>)) hoisted[prefix + name] = rewrite(schema) as JsonSchema;
  return rewrite(payload) as JsonSchema;
}

function message(type: SchemaType): JsonSchema {
  const payload = payloadOf(type);
  const catalog = (catalogSchemaPath as Partial<Record<string, { path: string }>>)[type];
  return {
    name: type,
    title: displayName(type),
    summary: catalog ? `Catalog message \`${type}\` (${catalog.path}).` : `Our addition \`${type}\`.`,
    contentType: 'application/json',
    headers: {
      allOf: [
        ref('components/schemas/CloudEventsHeaders'),
        { properties: { [Header.type]: { const: type }, [Header.dataSchema]: { const: dataSchemaOf(type) } } },
      ],
    },
    payload,
    correlationId: { description: 'The flow a message belongs to.', location: `$message.header#/${Header.correlationId}` },
    'x-eventcatalog-message-type': kindOf(type),
    'x-eventcatalog-message-version': versionOf(type),
  };
}

const messageRefs = (types: readonly SchemaType[]) => Object.fromEntries(types.map((t) => [key(t), ref(`components/messages/${key(t)}`)]));

function requestChannel(c: RequestChannel): [string, JsonSchema] {
  return [
    channelId(c.subject),
    {
      address: c.subject,
      title: `${displayName(c.request.replace(/\.request$/, ''))} (${c.kind})`,
      description: `Request/reply. Answered by the ${c.receiver} service's queue group \`${c.receiver}\`; asked by ${c.senders.join(', ')}. The reply goes to the request's NATS reply subject.`,
      messages: messageRefs([c.request]),
    },
  ];
}

function eventChannel(c: EventChannel): [string, JsonSchema] {
  const catalogChannel = c.subject.startsWith('ordering.evt.') ? { 'x-catalog-channel': 'ordering.orders' } : {};
  return [
    channelId(c.subject),
    {
      address: c.subject,
      title: displayName(c.message),
      description: `Published by the ${c.publisher} service to JetStream stream ${c.stream}, after the change it reports is committed (outbox).`,
      messages: messageRefs([c.message]),
      'x-jetstream': { stream: c.stream, durableConsumers: c.consumers.map((d) => ({ service: d.service, durable: d.durable })) },
      ...catalogChannel,
    },
  ];
}

/** Every reply type: the replies of every request, and the error reply. */
const replyTypes = (): SchemaType[] => [
  ...new Set<SchemaType>([...requestChannels.flatMap((c) => c.replies), MessageType.error, ExplorerMessageType.listCheckoutsResponse, ExplorerMessageType.getCheckoutTraceResponse]),
];

/**
 * The explorer's diagnostic queries (developers' tools, answered by the orchestrator), and the
 * instance subjects to which an orchestrator forwards a query for a saga another instance holds.
 */
const explorerChannels: [string, ExplorerMessageType | MessageType, ExplorerMessageType | MessageType, string][] = [
  [ExplorerQuery.listCheckouts, ExplorerMessageType.listCheckoutsRequest, ExplorerMessageType.listCheckoutsResponse, 'The explorer lists sagas.'],
  [ExplorerQuery.getCheckoutTrace, ExplorerMessageType.getCheckoutTraceRequest, ExplorerMessageType.getCheckoutTraceResponse, "The explorer reads one saga's trace."],
  ['checkout.qry.list.{instanceId}', ExplorerMessageType.listCheckoutsRequest, ExplorerMessageType.listCheckoutsResponse, "One orchestrator instance's own page of the list."],
  ['checkout.qry.trace.{instanceId}', ExplorerMessageType.getCheckoutTraceRequest, ExplorerMessageType.getCheckoutTraceResponse, 'Forwarded to the instance that owns the saga.'],
  ['checkout.qry.status.{instanceId}', MessageType.getCheckoutRequest, MessageType.getCheckoutResponse, "get-checkout for a saga whose document is not in the checkouts bucket, forwarded to the instance that owns the saga."],
];

function operations(): Record<string, JsonSchema> {
  const ops: Record<string, JsonSchema> = {};
  const reply = (types: readonly SchemaType[]) => ({
    channel: ref('channels/replies'),
    messages: types.map((t) => ref(`channels/replies/messages/${key(t)}`)),
  });
  for (const c of requestChannels) {
    const id = channelId(c.subject);
    const base = { channel: ref(`channels/${id}`), messages: [ref(`channels/${id}/messages/${key(c.request)}`)] };
    ops[`${c.receiver}.receive.${id}`] = {
      action: 'receive',
      title: `${c.receiver} answers ${c.request}`,
      ...base,
      reply: reply([...c.replies, MessageType.error]),
      bindings: { nats: { queue: c.receiver, bindingVersion: '0.1.0' } },
    };
    for (const s of c.senders) ops[`${s}.send.${id}`] = { action: 'send', title: `${s} asks ${c.request}`, ...base, reply: reply([...c.replies, MessageType.error]) };
  }
  for (const c of eventChannels) {
    const id = channelId(c.subject);
    const base = { channel: ref(`channels/${id}`), messages: [ref(`channels/${id}/messages/${key(c.message)}`)] };
    ops[`${c.publisher}.send.${id}`] = { action: 'send', title: `${c.publisher} publishes ${c.message}`, ...base };
    for (const d of c.consumers) ops[`${d.service}.receive.${id}`] = { action: 'receive', title: `${d.service} consumes ${c.message} (durable ${d.durable})`, ...base };
  }
  for (const [subject, request, response] of explorerChannels) {
    const id = channelId(subject.replace(/\{instanceId\}/, 'instance'));
    const base = { channel: ref(`channels/${id}`), messages: [ref(`channels/${id}/messages/${key(request)}`)] };
    ops[`checkout.receive.${id}`] = { action: 'receive', title: `checkout answers ${request}`, ...base, reply: reply([response, MessageType.error]) };
  }
  return ops;
}

function channels(): Record<string, JsonSchema> {
  const out: Record<string, JsonSchema> = Object.fromEntries([...requestChannels.map(requestChannel), ...eventChannels.map(eventChannel)]);
  for (const [subject, request, , description] of explorerChannels) {
    const parameterized = subject.includes('{instanceId}');
    const explorer = (Object.values(ExplorerMessageType) as string[]).includes(request);
    out[channelId(subject.replace(/\{instanceId\}/, 'instance'))] = {
      address: subject,
      title: explorer ? `Explorer: ${displayName(request)}` : `${displayName(request)}, forwarded`,
      description: explorer ? `${description} Diagnostics for developers, outside the shop's contract.` : `${description} Between orchestrator instances only.`,
      messages: messageRefs([request]),
      ...(parameterized ? { parameters: { instanceId: { description: 'An orchestrator instance id (INSTANCE_ID).' } } } : {}),
    };
  }
  out.replies = {
    address: null,
    title: 'Replies',
    description: "The requester's own inbox (`_INBOX.<service>.>`): NATS request/reply answers on the request's reply subject.",
    messages: messageRefs(replyTypes()),
  };
  out.ping = {
    address: '{service}.qry.ping',
    title: 'Readiness ping',
    description: 'Every service answers `{"service", "ok": true}`; the gateway asks before it reports ready.',
    parameters: { service: { enum: Object.values(Service), description: 'The service asked.' } },
  };
  out['kv.checkouts'] = {
    address: `$KV.${Bucket.checkouts}.{checkoutId}`,
    title: 'Checkout status (KV)',
    description: "The `checkouts` key-value bucket: the orchestrator puts each checkout's status document (get-checkout.response) on every change; the gateway watches it for Server-Sent Events.",
    parameters: { checkoutId: { description: 'The checkout id.' } },
    messages: { checkoutStatus: { name: 'checkout-status', title: 'Checkout Status', contentType: 'application/json', payload: message(MessageType.getCheckoutResponse).payload } },
  };
  out['kv.saga-owners'] = {
    address: `$KV.${Bucket.sagaOwners}.{checkoutId}`,
    title: 'Saga ownership (KV)',
    description: 'The `saga-owners` key-value bucket: which orchestrator instance owns a saga; created atomically, so one instance runs each saga.',
    parameters: { checkoutId: { description: 'The checkout id.' } },
    messages: { owner: { name: 'saga-owner', title: 'Saga Owner', contentType: 'text/plain', payload: { type: 'string', description: 'The owning instance id.' } } },
  };
  return out;
}

const streamsDescription = Object.values(Stream)
  .map((s) => `\`${s.name}\` (${s.subjects.map((x) => `\`${x}\``).join(', ')})`)
  .join(', ');

/** The AsyncAPI 3.0 document. */
export function asyncApiDocument(): JsonSchema {
  const messages = Object.fromEntries(schemaTypes.map((t) => [key(t), message(t)]));
  return {
    asyncapi: '3.0.0',
    info: {
      title: 'Place an Order',
      version: '1.0.0',
      description: [
        'Every NATS subject, JetStream stream and KV bucket of the Place an Order checkout saga, generated from the zod contracts by `npm run contracts`.',
        '',
        'Commands and queries are NATS request/reply on `<service>.cmd.<id>` / `<service>.qry.<id>`, answered by a queue group named after the service. Domain events go to JetStream, one stream per domain: ' + streamsDescription + '.',
        '',
        'Headers follow the CloudEvents NATS binding (binary mode): `ce-type` names the message, `ce-dataschema` its schema and version; the body is the payload. Error replies are CloudEvents too (`ce-type: error`, the `x-error-code` header).',
        '',
        "The catalog's Order Service AsyncAPI names Kafka channels; over NATS each is one subscription: " +
          Object.entries(catalogChannelMapping)
            .map(([k, v]) => `\`${k}\` is \`${v}\``)
            .join(', ') +
          ' (channels marked `x-catalog-channel`).',
      ].join('\n'),
    },
    defaultContentType: 'application/json',
    servers: {
      nats: {
        host: '127.0.0.1:4222',
        protocol: 'nats',
        description: 'nats-server 2.9+ with JetStream (`nats-server -c nats.conf -js`); each service connects as its own user, allowed exactly its subjects.',
        security: [ref('components/securitySchemes/serviceUser')],
      },
    },
    channels: channels(),
    operations: operations(),
    components: {
      messages,
      schemas: { CloudEventsHeaders: cloudEventsHeaders, ...hoisted },
      securitySchemes: { serviceUser: { type: 'userPassword', description: 'One NATS user per service (nats.conf).' } },
    },
    'x-catalog-channels': catalogChannelMapping,
  };
}
