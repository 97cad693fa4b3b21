/**
 * At most `n` tasks at a time: a process opening many slots at once (a standby taking over a lost
 * machine's slots) opens a few together, so that one slow rebuild does not hold the others, while
 * the CPU a rebuild costs stays bounded.
 */

/** Runs the functions given at most `n` at a time, the others waiting their turn in the order given. */
export function turns(n: number): <T>(fn: () => Promise<T>) => Promise<T> {
  let running = 0;
  const waiting: Array<() => void> = [];
  return async (fn) => {
    if (running < n) running++;
    else await new Promise<void>((resolve) => waiting.push(resolve));
    try {
      return await fn();
    } finally {
      // The turn passes straight to the next in line, or is given back.
      const next = waiting.shift();
      if (next) next();
      else running--;
    }
  };
}
