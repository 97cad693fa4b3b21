/**
 * A machine's definition as plain JSON in xstate's config shape: what Stately Studio imports
 * (Import, then paste `createMachine(` + the file + `)`) and what the inspector shows.
 *
 * Only what is declarative survives: states, transitions with `#id` targets, guards and actions by
 * name with their static params. Params computed from context at run time are marked
 * `"params": "(computed)"`, and inline `assign`s appear as the action `assign`.
 */
import type { MachineGraph, NamedRef, StateInfo, TransitionInfo } from './graph.ts';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

const ref = (r: NamedRef): Json => {
  if (r.dynamicParams) return { type: r.type, params: '(computed)' };
  return r.params === undefined ? r.type : { type: r.type, params: JSON.parse(JSON.stringify(r.params)) as Json };
};

function transitionJson(t: TransitionInfo): JsonObject {
  const o: JsonObject = {};
  if (t.target !== undefined) o.target = `#${t.target}`;
  if (t.guard) o.guard = ref(t.guard);
  if (t.reenter) o.reenter = true;
  if (t.actions.length) o.actions = t.actions.map(ref);
  return o;
}

export function toDefinition(graph: MachineGraph, version?: string): JsonObject {
  const byId = new Map(graph.states.map((s) => [s.id, s]));
  const from = new Map<string, TransitionInfo[]>();
  for (const t of graph.transitions) from.set(t.source, [...(from.get(t.source) ?? []), t]);

  const stateJson = (s: StateInfo): JsonObject => {
    const o: JsonObject = {};
    if (s.id === graph.root) {
      o.id = graph.id;
      if (version !== undefined) o.version = version;
    }
    if (s.type === 'final' || s.type === 'parallel' || s.type === 'history') o.type = s.type;
    if (s.description) o.description = s.description;
    if (s.initial) o.initial = byId.get(s.initial)?.key ?? s.initial;
    if (s.entry.length) o.entry = s.entry.map(ref);
    if (s.exit.length) o.exit = s.exit.map(ref);
    const on: JsonObject = {};
    const always: Json[] = [];
    for (const t of from.get(s.id) ?? []) {
      if (t.event === undefined) {
        always.push(transitionJson(t));
        continue;
      }
      const list = (on[t.event] as Json[] | undefined) ?? [];
      list.push(transitionJson(t));
      on[t.event] = list;
    }
    if (Object.keys(on).length) o.on = on;
    if (always.length) o.always = always;
    if (s.children.length) {
      const states: JsonObject = {};
      for (const c of s.children) {
        const child = byId.get(c);
        if (child) states[child.key] = stateJson(child);
      }
      o.states = states;
    }
    return o;
  };
  const root = byId.get(graph.root);
  return root ? stateJson(root) : { id: graph.id };
}
