import { describe, expect, it } from 'vitest';
import { HotCache } from '../../src/runtime/hot-cache.ts';

describe('the hot actors cache', () => {
  it('keeps what was used within the last half of its capacity, and forgets what was not used for a whole capacity', () => {
    const cache = new HotCache<number>(100);
    cache.set('kept', 1);
    cache.set('dropped', 2);
    for (let i = 0; i < 300; i++) {
      cache.set(`a${i}`, i);
      if (i % 40 === 0) expect(cache.get('kept')).toBe(1); // used every 40 sets: never lost
    }
    expect(cache.get('kept')).toBe(1);
    expect(cache.get('dropped')).toBeUndefined();
    expect(cache.get('a299')).toBe(299);
    expect(cache.get('a251')).toBe(251); // within the last half capacity of sets
    expect(cache.get('a0')).toBeUndefined();
  });

  it('gives the value set last, deletes, and clears', () => {
    const cache = new HotCache<string>(4);
    cache.set('x', 'old');
    cache.set('y', 'y');
    cache.set('x', 'new');
    expect(cache.get('x')).toBe('new');
    cache.delete('x');
    expect(cache.get('x')).toBeUndefined();
    expect(cache.get('y')).toBe('y');
    cache.clear();
    expect(cache.get('y')).toBeUndefined();
  });
});
