/**
 * Two heap snapshots (`npm run bench -- --memory-trace F --heap-snapshots N,M`, or any
 * `v8.writeHeapSnapshot`) compared by constructor: for each (node type, name) the objects and their
 * shallow bytes in each, and what grew, largest first (issue #14, docs/benchmarks.md, "What a long
 * run still grows"). Node ids are not matched: this is a census, not a retainer analysis.
 *
 *   node --max-old-space-size=6000 --import tsx docs/experiments/heap-by-constructor.ts A.heapsnapshot B.heapsnapshot [top]
 */
import { readFileSync } from 'node:fs';

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]]; edge_fields: string[]; edge_types: [string[], ...unknown[]] } };
  nodes: number[];
  edges: number[];
  strings: string[];
}

type Census = Map<string, { count: number; bytes: number }>;

function census(path: string): Census {
  const s = JSON.parse(readFileSync(path, 'utf8')) as Snapshot;
  const fields = s.snapshot.meta.node_fields;
  const types = s.snapshot.meta.node_types[0];
  const width = fields.length;
  const iType = fields.indexOf('type');
  const iName = fields.indexOf('name');
  const iSize = fields.indexOf('self_size');
  const iEdges = fields.indexOf('edge_count');
  const eFields = s.snapshot.meta.edge_fields;
  const eWidth = eFields.length;
  const eType = eFields.indexOf('type');
  const eName = eFields.indexOf('name_or_index');
  const eTypes = s.snapshot.meta.edge_types[0];
  const out: Census = new Map();
  let edge = 0;
  for (let i = 0; i < s.nodes.length; i += width) {
    const edges = s.nodes[i + iEdges]!;
    const firstEdge = edge;
    edge += edges * eWidth;
    const type = types[s.nodes[i + iType]!]!;
    let name = type === 'string' || type === 'concatenated string' || type === 'sliced string' ? '(string)' : s.strings[s.nodes[i + iName]!]!;
    if (type === 'code' || type === 'hidden') name = `(${type})`;
    // A plain object is named by its first properties, so that objects of one shape count together.
    if (type === 'object' && name === 'Object') {
      const props: string[] = [];
      for (let e = firstEdge; e < edge && props.length < 5; e += eWidth) {
        if (eTypes[s.edges[e + eType]!] === 'property') props.push(s.strings[s.edges[e + eName]!]!);
      }
      name = `{${props.join(',')}}`;
    }
    if (name.length > 60) name = `${name.slice(0, 57)}...`;
    const key = `${type}\t${name}`;
    const e = out.get(key) ?? { count: 0, bytes: 0 };
    e.count++;
    e.bytes += s.nodes[i + iSize]!;
    out.set(key, e);
  }
  return out;
}

const [a, b, topArg] = process.argv.slice(2);
if (!a || !b) throw new Error('usage: heap-by-constructor.ts A.heapsnapshot B.heapsnapshot [top]');
const top = Number(topArg ?? 30);
const ca = census(a);
const cb = census(b);
const total = (c: Census) => [...c.values()].reduce((t, e) => t + e.bytes, 0);
const rows = [...new Set([...ca.keys(), ...cb.keys()])].map((key) => {
  const x = ca.get(key) ?? { count: 0, bytes: 0 };
  const y = cb.get(key) ?? { count: 0, bytes: 0 };
  return { key, countA: x.count, countB: y.count, kibA: Math.round(x.bytes / 1024), kibB: Math.round(y.bytes / 1024), grewKiB: Math.round((y.bytes - x.bytes) / 1024) };
});
rows.sort((p, q) => Math.abs(q.grewKiB) - Math.abs(p.grewKiB) || q.kibB - p.kibB);
process.stdout.write(`${JSON.stringify({ a, b, totalMiBA: Math.round(total(ca) / 1048576 * 10) / 10, totalMiBB: Math.round(total(cb) / 1048576 * 10) / 10 })}\n`);
for (const r of rows.slice(0, top)) {
  const [type, name] = r.key.split('\t');
  process.stdout.write(`${JSON.stringify({ type, name, countA: r.countA, countB: r.countB, kibA: r.kibA, kibB: r.kibB, grewKiB: r.grewKiB })}\n`);
}
