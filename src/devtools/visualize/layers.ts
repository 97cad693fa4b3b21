/**
 * A small layered (Sugiyama-style) layout for ONE level of a statechart: the children of one
 * compound state, and the transitions between them. `layout.ts` runs it for every compound state,
 * innermost first, so a compound child enters its parent's level as one big box.
 *
 *   1. break cycles by reversing the back edges of a depth-first search from the initial state;
 *   2. rank by longest path; real nodes take even ranks and each edge's label is a node at an odd
 *      rank between its ends, so labels get room of their own and never sit on a state;
 *   3. edges spanning several ranks get a chain of dummy nodes (their bends);
 *   4. order each rank by barycentre sweeps, keeping the ordering with the fewest crossings;
 *   5. place x by averaging a left-packed and a right-packed alignment to neighbours, which keeps
 *      order and spacing and straightens chains; place y by stacking ranks.
 * Deterministic: the same input always gives the same coordinates.
 */

export interface LevelNode {
  id: string;
  w: number;
  h: number;
}

export interface LevelEdge {
  id: string;
  from: string;
  to: string;
  /** Size of the label node, or undefined for an unlabelled edge. */
  label: { w: number; h: number } | undefined;
}

export interface Placed {
  x: number;
  y: number;
  w: number;
  h: number;
}

export interface LevelLayout {
  width: number;
  height: number;
  nodes: Map<string, Placed>;
  /** Bend points of each edge, from its source to its target (ends excluded). */
  bends: Map<string, Array<{ x: number; y: number }>>;
  /** Where each edge's label goes (top-left of the label box). */
  labels: Map<string, { x: number; y: number }>;
}

interface N {
  key: string;
  w: number;
  h: number;
  rank: number;
  cx: number;
  y: number;
  /** Where lines attach, relative to cx: a label node's line runs down its left edge. */
  off: number;
  /** Initial ordering hint: the depth-first discovery order of what it connects. */
  seed: number;
}

const NODE_GAP = 28;
const RANK_GAP = 14;
const LINE_CLEARANCE = 6;

export function layoutLevel(nodes: readonly LevelNode[], edges: readonly LevelEdge[], first?: string): LevelLayout {
  const ids = nodes.map((n) => n.id);
  const { reversed, discovery } = breakCycles(ids, edges, first);
  const rank = longestPathRanks(ids, edges, reversed);

  const seedOf = new Map(discovery.map((id, i) => [id, i]));
  const all = new Map<string, N>();
  for (const n of nodes) {
    all.set(n.id, { key: n.id, w: n.w, h: n.h, rank: (rank.get(n.id) ?? 0) * 2, cx: 0, y: 0, off: 0, seed: seedOf.get(n.id) ?? discovery.length });
  }
  // Each edge becomes a chain of segments between consecutive ranks, through dummies.
  const chains = new Map<string, string[]>();
  const segments: Array<[string, string]> = [];
  for (const e of edges) {
    const [u, v] = reversed.has(e.id) ? [e.to, e.from] : [e.from, e.to];
    const ru = all.get(u)?.rank ?? 0;
    const rv = all.get(v)?.rank ?? 0;
    const chain: string[] = [];
    // The label sits next to the edge's source, where a reader starts following it.
    const mid = reversed.has(e.id) ? rv - 1 : ru + 1;
    for (let r = ru + 1; r < rv; r++) {
      const key = `${e.id}@${r}`;
      const w = r === mid && e.label ? e.label.w + LINE_CLEARANCE : 0;
      const h = r === mid && e.label ? e.label.h : 0;
      const seed = ((seedOf.get(u) ?? discovery.length) + (seedOf.get(v) ?? discovery.length)) / 2;
      all.set(key, { key, w, h, rank: r, cx: 0, y: 0, off: -w / 2, seed });
      chain.push(key);
    }
    const path = [u, ...chain, v];
    for (let i = 0; i + 1 < path.length; i++) segments.push([path[i]!, path[i + 1]!]);
    chains.set(e.id, reversed.has(e.id) ? chain.reverse() : chain);
  }

  const layers = orderLayers(all, segments);
  placeX(layers, all, segments);
  const height = placeY(layers, all);
  const minX = Math.min(0, ...[...all.values()].map((n) => n.cx - n.w / 2));
  for (const n of all.values()) n.cx -= minX;
  const width = Math.max(0, ...[...all.values()].map((n) => n.cx + n.w / 2));

  const placed = new Map<string, Placed>();
  for (const id of ids) {
    const n = all.get(id)!;
    placed.set(id, { x: n.cx - n.w / 2, y: n.y, w: n.w, h: n.h });
  }
  const bends = new Map<string, Array<{ x: number; y: number }>>();
  const labels = new Map<string, { x: number; y: number }>();
  for (const e of edges) {
    const chain = chains.get(e.id) ?? [];
    bends.set(
      e.id,
      chain.map((k) => {
        const n = all.get(k)!;
        // A label node's line runs down its left edge; the text sits just right of it.
        if (n.w > 0) labels.set(e.id, { x: n.cx - n.w / 2 + LINE_CLEARANCE, y: n.y });
        return { x: n.cx + n.off, y: n.y + n.h / 2 };
      }),
    );
  }
  return { width, height, nodes: placed, bends, labels };
}

function breakCycles(ids: readonly string[], edges: readonly LevelEdge[], first?: string) {
  const out = new Map<string, LevelEdge[]>();
  for (const e of edges) out.set(e.from, [...(out.get(e.from) ?? []), e]);
  const state = new Map<string, 'open' | 'done'>();
  const reversed = new Set<string>();
  const discovery: string[] = [];
  const dfs = (v: string): void => {
    state.set(v, 'open');
    discovery.push(v);
    for (const e of out.get(v) ?? []) {
      const s = state.get(e.to);
      if (s === 'open') reversed.add(e.id);
      else if (s === undefined) dfs(e.to);
    }
    state.set(v, 'done');
  };
  for (const v of first !== undefined ? [first, ...ids] : ids) if (!state.has(v)) dfs(v);
  // A self-loop never reaches here: loops are drawn beside their state, not ranked.
  return { reversed, discovery };
}

function longestPathRanks(ids: readonly string[], edges: readonly LevelEdge[], reversed: ReadonlySet<string>): Map<string, number> {
  const preds = new Map<string, string[]>(ids.map((id) => [id, []]));
  for (const e of edges) {
    const [u, v] = reversed.has(e.id) ? [e.to, e.from] : [e.from, e.to];
    if (u !== v) preds.get(v)?.push(u);
  }
  const rank = new Map<string, number>();
  const visiting = new Set<string>();
  const rankOf = (v: string): number => {
    const known = rank.get(v);
    if (known !== undefined) return known;
    if (visiting.has(v)) return 0; // unreachable after cycle breaking; a guard, not a case
    visiting.add(v);
    const r = Math.max(-1, ...(preds.get(v) ?? []).map(rankOf)) + 1;
    visiting.delete(v);
    rank.set(v, r);
    return r;
  };
  for (const id of ids) rankOf(id);
  return rank;
}

function orderLayers(all: ReadonlyMap<string, N>, segments: ReadonlyArray<[string, string]>): string[][] {
  const maxRank = Math.max(0, ...[...all.values()].map((n) => n.rank));
  let layers: string[][] = Array.from({ length: maxRank + 1 }, () => []);
  for (const n of all.values()) layers[n.rank]!.push(n.key);
  const seed = (k: string) => all.get(k)!.seed;
  for (const layer of layers) layer.sort((a, b) => seed(a) - seed(b) || a.localeCompare(b));

  const up = new Map<string, string[]>();
  const down = new Map<string, string[]>();
  for (const [u, v] of segments) {
    const [a, b] = (all.get(u)?.rank ?? 0) < (all.get(v)?.rank ?? 0) ? [u, v] : [v, u];
    down.set(a, [...(down.get(a) ?? []), b]);
    up.set(b, [...(up.get(b) ?? []), a]);
  }
  let best = layers.map((l) => [...l]);
  let bestCrossings = crossings(best, down);
  for (let iter = 0; iter < 8; iter++) {
    const downward = iter % 2 === 0;
    const next = layers.map((l) => [...l]);
    const range = downward ? [...next.keys()].slice(1) : [...next.keys()].reverse().slice(1);
    for (const r of range) {
      const ref = next[downward ? r - 1 : r + 1]!;
      const pos = new Map(ref.map((k, i) => [k, i]));
      const neighbours = downward ? up : down;
      const layer = next[r]!;
      const current = new Map(layer.map((k, i) => [k, i]));
      const bary = (k: string) => {
        const ps = (neighbours.get(k) ?? []).map((n) => pos.get(n)).filter((p): p is number => p !== undefined);
        return ps.length ? ps.reduce((s, p) => s + p, 0) / ps.length : current.get(k)!;
      };
      layer.sort((a, b) => bary(a) - bary(b) || current.get(a)! - current.get(b)!);
    }
    layers = next;
    const c = crossings(layers, down);
    if (c < bestCrossings) {
      best = layers.map((l) => [...l]);
      bestCrossings = c;
    }
  }
  return best;
}

function crossings(layers: readonly string[][], down: ReadonlyMap<string, string[]>): number {
  let total = 0;
  for (let r = 0; r + 1 < layers.length; r++) {
    const below = new Map(layers[r + 1]!.map((k, i) => [k, i]));
    const pairs: Array<[number, number]> = [];
    layers[r]!.forEach((k, i) => {
      for (const d of down.get(k) ?? []) {
        const j = below.get(d);
        if (j !== undefined) pairs.push([i, j]);
      }
    });
    for (let a = 0; a < pairs.length; a++)
      for (let b = a + 1; b < pairs.length; b++) {
        const [i1, j1] = pairs[a]!;
        const [i2, j2] = pairs[b]!;
        if ((i1 - i2) * (j1 - j2) < 0) total++;
      }
  }
  return total;
}

function placeX(layers: readonly string[][], all: ReadonlyMap<string, N>, segments: ReadonlyArray<[string, string]>): void {
  const node = (k: string) => all.get(k)!;
  const sep = (a: N, b: N) => (a.w + b.w) / 2 + (a.w === 0 || b.w === 0 ? NODE_GAP / 2 : NODE_GAP);
  // Start packed and centred on the widest rank.
  for (const layer of layers) {
    let x = 0;
    layer.forEach((k, i) => {
      const n = node(k);
      if (i > 0) x += sep(node(layer[i - 1]!), n);
      n.cx = x;
    });
    const shift = -x / 2;
    for (const k of layer) node(k).cx += shift;
  }
  const neighbours = new Map<string, string[]>();
  for (const [u, v] of segments) {
    neighbours.set(u, [...(neighbours.get(u) ?? []), v]);
    neighbours.set(v, [...(neighbours.get(v) ?? []), u]);
  }
  for (let iter = 0; iter < 10; iter++) {
    const downward = iter % 2 === 0;
    const order = downward ? layers : [...layers].reverse();
    for (const layer of order) {
      const rank = node(layer[0] ?? '')?.rank;
      if (rank === undefined) continue;
      const adjacent = downward ? rank - 1 : rank + 1;
      const desired = layer.map((k) => {
        const xs = (neighbours.get(k) ?? []).map(node).filter((n) => n.rank === adjacent).map((n) => n.cx + n.off);
        return xs.length ? xs.reduce((s, x) => s + x, 0) / xs.length - node(k).off : node(k).cx;
      });
      const left = [...desired];
      for (let i = 1; i < layer.length; i++) left[i] = Math.max(left[i]!, left[i - 1]! + sep(node(layer[i - 1]!), node(layer[i]!)));
      const right = [...desired];
      for (let i = layer.length - 2; i >= 0; i--) right[i] = Math.min(right[i]!, right[i + 1]! - sep(node(layer[i]!), node(layer[i + 1]!)));
      layer.forEach((k, i) => (node(k).cx = (left[i]! + right[i]!) / 2));
    }
  }
}

function placeY(layers: readonly string[][], all: ReadonlyMap<string, N>): number {
  let y = 0;
  for (const layer of layers) {
    const h = Math.max(0, ...layer.map((k) => all.get(k)!.h));
    for (const k of layer) {
      const n = all.get(k)!;
      // Top-aligned: a small state beside a big compound one stays near the lines that reach it.
      n.y = n.w === 0 && n.h === 0 ? y + h / 2 : y;
    }
    y += h + RANK_GAP;
  }
  return Math.max(0, y - RANK_GAP);
}
