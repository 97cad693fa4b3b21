import { describe, expect, it } from 'vitest';
import { explore } from '../../src/devtools/testing/paths.ts';
import { machineModels } from '../../src/devtools/testing/models/index.ts';
import { persistedSnapshotOf } from '../../src/runtime/versioning.ts';

describe('the stored form of a snapshot', () => {
  for (const [name, model] of Object.entries(machineModels)) {
    it(`is xstate's getPersistedSnapshot, to the byte, in every reachable state of the ${name} machine`, () => {
      const { states } = explore(model);
      expect(states.size).toBeGreaterThan(1);
      for (const s of states.values()) {
        const ours = persistedSnapshotOf(model.machine, s);
        expect(JSON.stringify(ours)).toBe(JSON.stringify(model.machine.getPersistedSnapshot(s)));
        // Restores as xstate's does: the same state and context.
        const restored = model.machine.resolveState({ value: ours.value, context: ours.context });
        expect(restored.value).toEqual(s.value);
        expect(restored.context).toEqual(s.context);
      }
    });
  }
});
