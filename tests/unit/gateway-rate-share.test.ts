/** Gateways in numbers: each instance enforces its share of the rate limit stated for the whole shop. */
import { describe, expect, it } from 'vitest';
import { instanceRateLimit } from '../../src/gateway/config.ts';

describe('instanceRateLimit', () => {
  it('leaves the default alone for one instance, and turns the limiter off for 0', () => {
    expect(instanceRateLimit(undefined, 1)).toBeUndefined();
    expect(instanceRateLimit(0, 4)).toBe(false);
    expect(instanceRateLimit(120, 1)).toEqual({ max: 120, timeWindowMs: 60_000 });
  });

  it('splits the stated limit over the instances, rounding up, never below one', () => {
    expect(instanceRateLimit(600, 3)).toEqual({ max: 200, timeWindowMs: 60_000 });
    expect(instanceRateLimit(100, 3)).toEqual({ max: 34, timeWindowMs: 60_000 });
    expect(instanceRateLimit(2, 5)).toEqual({ max: 1, timeWindowMs: 60_000 });
    // The default limit (600 a minute) is shared too when several instances are declared.
    expect(instanceRateLimit(undefined, 2)).toEqual({ max: 300, timeWindowMs: 60_000 });
  });
});
