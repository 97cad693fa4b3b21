/**
 * The machine diagrams: built from xstate's own graph (plus the eventless transitions it leaves
 * out), drawn as Mermaid, SVG and the Stately JSON, and committed under docs/machines. The first
 * test fails whenever a machine changes and `npm run viz` was not run.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createMachine } from 'xstate';
import { describe, expect, it } from 'vitest';
import { cartDefinition } from '../../src/actors/cart/definition.ts';
import { checkoutDefinition } from '../../src/actors/checkout/definition.ts';
import { reservationDefinition } from '../../src/actors/inventory/definition.ts';
import { partitionedReservationDefinition } from '../../src/actors/inventory/partitioned-definition.ts';
import { orderDefinition } from '../../src/actors/order/definition.ts';
import { authorizationDefinition } from '../../src/actors/payment/definition.ts';
import { actorInput, type ActorDefinition } from '../../src/runtime/actor-host.ts';
import { checkoutMachine } from '../../src/machines/checkout.ts';
import { toDefinition } from '../../src/devtools/visualize/definition.ts';
import { EMBEDDING_FILES, embedMermaid, machineDocs } from '../../src/devtools/visualize/docs.ts';
import { activeStateIds, machineGraph, transitionLabel, type MachineGraph } from '../../src/devtools/visualize/graph.ts';
import { statePaths } from '../../src/runtime/journal-queries.ts';
import { layoutMachine, type StateBox } from '../../src/devtools/visualize/layout.ts';
import { machines } from '../../src/devtools/visualize/machines.ts';
import { toMermaid } from '../../src/devtools/visualize/mermaid.ts';
import { toSvg } from '../../src/devtools/visualize/svg.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
const checkout = machineGraph(checkoutMachine);

describe('machine diagrams', () => {
  describe('docs/machines', () => {
    it.each(machines.map((m) => m.name))('is up to date with the %s machine (run `npm run viz` after changing it)', (name) => {
      const entry = machines.find((m) => m.name === name)!;
      for (const file of machineDocs(entry)) {
        const committed = readFileSync(`${root}/${file.path}`, 'utf8');
        expect(committed === file.content, `${file.path} is out of date: run npm run viz`).toBe(true);
      }
    });

    it('keeps the Mermaid embedded in the README and docs current (run `npm run viz`)', () => {
      const mermaidOf = (name: string) => machines.filter((m) => m.name === name).flatMap(machineDocs).find((f) => f.path.endsWith('.mmd'))?.content;
      for (const path of EMBEDDING_FILES) {
        let text: string;
        try {
          text = readFileSync(`${root}/${path}`, 'utf8');
        } catch {
          continue; // a file that does not exist embeds nothing
        }
        expect(embedMermaid(text, mermaidOf) === text, `${path} embeds a stale diagram: run npm run viz`).toBe(true);
      }
      const stale = 'intro\n<!-- machine:order -->\n```mermaid\nold\n```\n<!-- /machine:order -->\nrest';
      expect(embedMermaid(stale, mermaidOf)).toBe(`intro\n<!-- machine:order -->\n\`\`\`mermaid\n${mermaidOf('order')}\`\`\`\n<!-- /machine:order -->\nrest`);
    });

    it('covers every machine in src/machines', () => {
      expect(machines.map((m) => m.name).sort()).toEqual(['authorization', 'cart', 'checkout', 'order', 'partitioned-reservation', 'reservation']);
    });

    it('creates actors the way their definitions do', () => {
      const defs: ActorDefinition[] = [checkoutDefinition({ requestTimeoutMs: 1 }), cartDefinition({ abandonAfterMs: 1 }), reservationDefinition, partitionedReservationDefinition({ count: 2, requestTimeoutMs: 1, now: () => '' }) as ActorDefinition, authorizationDefinition, orderDefinition];
      expect(defs.map((d) => d.kind).sort()).toEqual(machines.map((m) => m.name).sort());
      for (const def of defs) {
        const entry = machines.find((m) => m.name === def.kind)!;
        expect(entry.input('some-id')).toEqual(actorInput(def, 'some-id'));
        expect(entry.version).toBe(def.version);
      }
    });
  });

  describe('the graph', () => {
    it('includes the eventless transitions, in order, with their guards and the else branch', () => {
      const always = checkout.transitions.filter((t) => t.event === undefined).map((t) => [t.source, t.target, transitionLabel(t)]);
      expect(always).toEqual([
        ['checkout.compensating.next', 'checkout.compensating.voidingPayment', 'always [mustVoidPayment]'],
        ['checkout.compensating.next', 'checkout.compensating.releasingInventory', 'always [mustReleaseInventory]'],
        ['checkout.compensating.next', 'checkout.compensating.cancellingOrder', 'always [else]'],
      ]);
    });

    it('labels guards with their params, targetless and re-entering transitions', () => {
      const labels = checkout.transitions.map(transitionLabel);
      expect(labels).toContain('timer.expired [timerIs(authorizePayment)]');
      expect(labels).toContain('payment.declined [isFraud]');
      expect(labels).toContain('payment.declined [else]');
      expect(labels).toContain('step.failed [stepIs(voidPayment)] (stays)');
      expect(labels).toContain('operator.retry (re-enter)');
    });

    it('finds the active states of a value, and refuses one the machine lacks', () => {
      expect(activeStateIds(checkoutMachine, { compensating: { voidingPayment: 'trying' } })).toEqual([
        'checkout.compensating', 'checkout.compensating.voidingPayment', 'checkout.compensating.voidingPayment.trying',
      ]);
      expect(activeStateIds(checkoutMachine, 'chargingCard')).toBeUndefined();
      expect(statePaths({ compensating: { voidingPayment: 'trying' } })).toEqual(['compensating.voidingPayment.trying']);
    });
  });

  describe('Mermaid', () => {
    const mmd = toMermaid(checkout);

    it('is a stateDiagram-v2 with composite states, initial and final markers', () => {
      expect(mmd.startsWith('stateDiagram-v2\n')).toBe(true);
      expect(mmd).toContain('  [*] --> idle\n');
      expect(mmd).toContain('  state compensating {\n    [*] --> next\n');
      expect(mmd).toContain('  confirmed --> [*]\n');
      expect(mmd).toContain('  cancellingOrder --> cancelled : order.cancelled\n');
    });

    it('gives states that share a key unique ids, labelled with their key', () => {
      expect(mmd).toContain('state "trying" as voidingPayment_trying');
      expect(mmd).toContain('voidingPayment_trying --> voidingPayment_needsAttention : timer.expired [timerIs(voidPayment)]');
      const braces = [...mmd].filter((c) => c === '{').length;
      expect(braces).toBe([...mmd].filter((c) => c === '}').length);
    });
  });

  describe('SVG', () => {
    const layouts = machines.map((m) => ({ name: m.name, graph: machineGraph(m.machine), layout: layoutMachine(machineGraph(m.machine)) }));

    it('draws every state, addressable by its id', () => {
      const svg = toSvg(checkout);
      for (const s of checkout.states) expect(svg).toContain(`data-state-id="${s.id}"`);
      expect(svg).not.toMatch(/https?:\/\/(?!www\.w3\.org\/2000\/svg)/); // nothing to fetch
    });

    it.each(layouts.map((l) => l.name))('lays out %s with every state inside its parent and no siblings overlapping', (name) => {
      const { graph, layout } = layouts.find((l) => l.name === name)!;
      const box = new Map(layout.states.map((b) => [b.id, b]));
      const inside = (a: StateBox, b: StateBox) => a.x >= b.x && a.y >= b.y && a.x + a.w <= b.x + b.w && a.y + a.h <= b.y + b.h;
      const overlap = (a: StateBox, b: StateBox) => a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
      for (const s of graph.states) {
        if (s.parent) expect(inside(box.get(s.id)!, box.get(s.parent)!), `${s.id} inside ${s.parent}`).toBe(true);
        const siblings = s.children.map((c) => box.get(c)!);
        for (let i = 0; i < siblings.length; i++)
          for (let j = i + 1; j < siblings.length; j++) expect(overlap(siblings[i]!, siblings[j]!), `${siblings[i]!.id} / ${siblings[j]!.id}`).toBe(false);
      }
      for (const e of layout.edges) for (const p of e.points) expect(p.x >= 0 && p.y >= 0 && p.x <= layout.width && p.y <= layout.height).toBe(true);
      expect(toSvg(graph)).toBe(toSvg(machineGraph(machines.find((m) => m.name === name)!.machine))); // deterministic
    });

    it('draws one line per source and target, carrying all their transitions', () => {
      const layout = layoutMachine(checkout);
      const toCompensating = layout.edges.find((e) => e.id === 'checkout.authorizingPayment->checkout.compensating')!;
      expect(toCompensating.lines).toEqual(['payment.declined [isFraud]', 'payment.declined [else]', 'step.failed [stepIs(authorizePayment)]', 'timer.expired [timerIs(authorizePayment)]']);
      expect(layout.edges.filter((e) => e.loop).map((e) => e.source)).toContain('checkout.compensating.voidingPayment.needsAttention');
    });
  });

  describe('the Stately JSON definition', () => {
    it('rebuilds, with xstate, a machine with the same states and transitions', () => {
      const json = toDefinition(checkout, '1');
      const rebuilt = machineGraph(createMachine(JSON.parse(JSON.stringify(json)) as Parameters<typeof createMachine>[0]));
      const shape = (g: MachineGraph) => ({
        states: g.states.map((s) => [s.id, s.type, s.initial]),
        transitions: g.transitions.map((t) => [t.source, t.event, t.target, t.guard?.type, t.reenter, t.actions.map((a) => a.type)]),
      });
      expect(shape(rebuilt)).toEqual(shape(checkout));
      expect(json).toMatchObject({ id: 'checkout', version: '1', initial: 'idle' });
    });
  });
});
