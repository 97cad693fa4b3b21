/**
 * Every actor of `kind` in a service's store, read from outside its process: the checkpointed rows
 * and the records after them, replayed through the kind's machine (records leave the snapshot
 * out, src/runtime/record-replay.ts).
 */
import { machineNamed } from '../../src/devtools/visualize/machines.ts';
import { latestActors } from '../../src/runtime/journal-queries.ts';
import { kindReplay } from '../../src/runtime/record-replay.ts';
import type { Db } from '../../src/runtime/store.ts';

export function storedActors(db: Db, kind: string): ReturnType<typeof latestActors> {
  const m = machineNamed(kind);
  if (!m) throw new Error(`no machine named ${kind}`);
  try {
    return latestActors(db, kind, kindReplay({ kind, version: m.version, machine: m.machine, input: (id) => m.input(id) }));
  } catch (err) {
    // A test that hosts a changed machine under the same version (tests/model/checkout.rules.test.ts)
    // wrote records this machine does not replay: then the checkpointed rows are what there is.
    if ((err as Error).name !== 'MachineVersionError') throw err;
    return latestActors(db, kind);
  }
}
