/**
 * A machine graph as a Mermaid `stateDiagram-v2`, for READMEs and docs (GitHub renders it).
 *
 * Mermaid ids are global to a diagram, so a state is named by its key when that key is unique in
 * the machine (`authorizingPayment`), else by enough of its path to be unique
 * (`voidingPayment_trying`), shown with its own key as the label. Each transition is written in the
 * block of the innermost composite state that holds both ends, which is where Mermaid expects it.
 */
import { transitionLabel, type MachineGraph, type StateInfo } from './graph.ts';

const RESERVED = new Set(['state', 'note', 'end', 'direction', 'class', 'classDef', 'style', 'as', 'left', 'right', 'of']);

export function toMermaid(graph: MachineGraph, header?: string): string {
  const byId = new Map(graph.states.map((s) => [s.id, s]));
  const ids = mermaidIds(graph.states.filter((s) => s.id !== graph.root));
  const name = (id: string): string => ids.get(id) ?? '[*]';

  // Which block (composite state, or the root) each transition line belongs to.
  const lines = new Map<string, string[]>();
  const add = (block: string, line: string) => lines.set(block, [...(lines.get(block) ?? []), line]);
  for (const t of graph.transitions) {
    const target = t.target ?? t.source;
    add(commonAncestor(byId, t.source, target), `${name(t.source)} --> ${name(target)} : ${transitionLabel(t)}`);
  }

  const out: string[] = ['stateDiagram-v2'];
  if (header) for (const l of header.split('\n')) out.push(`  %% ${l}`);
  const writeBlock = (block: StateInfo, indent: string): void => {
    if (block.initial) out.push(`${indent}[*] --> ${name(block.initial)}`);
    for (const childId of block.children) {
      const child = byId.get(childId);
      if (!child) continue;
      const id = name(child.id);
      if (child.children.length > 0) {
        out.push(`${indent}state ${id} {`);
        writeBlock(child, `${indent}  `);
        out.push(`${indent}}`);
      } else if (id !== child.key) {
        out.push(`${indent}state "${child.key}" as ${id}`);
      }
    }
    for (const line of lines.get(block.id) ?? []) out.push(`${indent}${line}`);
    for (const childId of block.children) {
      if (byId.get(childId)?.type === 'final') out.push(`${indent}${name(childId)} --> [*]`);
    }
  };
  const root = byId.get(graph.root);
  if (root) writeBlock(root, '  ');
  return `${out.join('\n')}\n`;
}

/** The innermost compound state containing both `a` and `b` (a self-loop belongs to its parent). */
function commonAncestor(byId: ReadonlyMap<string, StateInfo>, a: string, b: string): string {
  const chain = (id: string): string[] => {
    const out: string[] = [];
    for (let s = byId.get(id)?.parent; s !== undefined; s = byId.get(s)?.parent) out.push(s);
    return out;
  };
  const ancestorsOfB = new Set(chain(b));
  return chain(a).find((id) => ancestorsOfB.has(id)) ?? a;
}

function mermaidIds(states: readonly StateInfo[]): Map<string, string> {
  const sanitize = (s: string) => s.replace(/[^A-Za-z0-9_]/g, '_');
  const pathOf = new Map(states.map((s) => [s.id, s.id.split('.').slice(1).map(sanitize)]));
  const ids = new Map<string, string>();
  for (const s of states) {
    const path = pathOf.get(s.id) ?? [sanitize(s.key)];
    for (let n = 1; n <= path.length; n++) {
      const candidate = path.slice(-n).join('_');
      const clash = states.some((o) => o.id !== s.id && (pathOf.get(o.id) ?? []).slice(-n).join('_') === candidate);
      if (!clash && !RESERVED.has(candidate)) {
        ids.set(s.id, candidate);
        break;
      }
    }
    if (!ids.has(s.id)) ids.set(s.id, `s_${path.join('_')}`);
  }
  return ids;
}
