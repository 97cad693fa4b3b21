/**
 * `npm run paths -- --run <id>`, as a tester runs it: one scenario of docs/test-plan/checkout/
 * against the real system in a child process. It prints every step with PASS or FAIL and exits 0
 * for a confirmed, a cancelled and a needs-attention scenario (the last over a nats-server it
 * starts), and exits 1 with the failing step shown when the saga is a deliberately broken variant
 * (src/runtime/broken.ts: it skips releasing the stock when it compensates after a deadline).
 *
 * The ids are the plan's: if one of them stops being a scenario, this test says so first.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { checkoutRunById } from '../../src/devtools/testing/checkout-plan.ts';
import { checkoutModel } from '../../src/devtools/testing/models/checkout.ts';
import { planScenarios } from '../../src/devtools/testing/plan.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));

/** Scenario ids from docs/test-plan/checkout/, one per outcome group exercised here. */
const ids = {
  // cart checked out → inventory reserved → payment authorized → order created (CONFIRMED)
  confirmed: 'checkout-7rt9rk',
  // cart checked out → inventory reserved → payment timed out → payment voided → reservation released → order cancelled (PAYMENT_FAILED)
  cancelled: 'checkout-dydjgk',
  // … order creation timed out → payment voided → reservation release timed out → operator retried the reservation release (stops while releasing the reservation)
  needsAttention: 'checkout-6h25c8',
};

function paths(args: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('npm', ['run', '--silent', 'paths', '--', ...args], {
      cwd: root,
      env: { ...process.env, LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code, out }));
  });
}

describe('npm run paths -- --run <id>', () => {
  it('knows the ids used below as scenarios of the plan, in their outcome groups', () => {
    const plan = { scenarios: planScenarios(checkoutModel) };
    const group = (id: string) => plan.scenarios.find((s) => s.id === id)?.outcome?.key;
    expect(group(ids.confirmed)).toBe('confirmed');
    expect(group(ids.cancelled)).toBe('cancelled-payment-failed');
    expect(group(ids.needsAttention)).toBe('needs-attention');
    for (const id of Object.values(ids)) expect(checkoutRunById(plan, id)?.ok, id).toBe(true);
  });

  // The four runs go at once: each spends most of its time generating the plan, not waiting.
  it.concurrent.each([
    ['a confirmed scenario', ids.confirmed, [] as string[]],
    ['a cancelled scenario', ids.cancelled, []],
    ['a needs-attention scenario, over a nats-server it starts', ids.needsAttention, ['--nats']],
  ])(
    'passes %s, printing each step with its check',
    async (_what, id, more) => {
      const { code, out } = await paths(['--run', id, ...more]);
      expect(out).toMatch(
        /^PASS 1\. cart checked out \[checkout\.started\] → reservingInventory: journaled$/m,
      );
      expect(out).toMatch(/^PASS outcome: /m);
      expect(out).not.toMatch(/^FAIL/m);
      expect(out).toMatch(new RegExp(`^PASS ${id} in `, 'm'));
      expect(code, out).toBe(0);
    },
    120_000,
  );

  it.concurrent(
    'fails visibly, exit code 1, against a saga that skips the release after a deadline',
    async () => {
      const { code, out } = await paths([
        '--run',
        ids.cancelled,
        '--broken',
        'compensationSkippedAfterTimeout',
      ]);
      expect(out).toMatch(/^PASS 3\. payment timed out \[timer\.expired\(authorizePayment\)\]/m);
      expect(out).toMatch(
        /^FAIL 4\. payment voided \[payment\.voided\] → compensating\.releasingInventory\.trying: event 4: the saga went to \{"compensating":\{"cancellingOrder":"trying"\}\}/m,
      );
      expect(out).toMatch(new RegExp(`^FAIL ${ids.cancelled} in `, 'm'));
      expect(code, out).toBe(1);
    },
    120_000,
  );

  it('exits 2 on an unknown id, naming where the ids are', async () => {
    const { code, out } = await paths(['--run', 'checkout-zzzzzz']);
    expect(out).toContain('unknown scenario "checkout-zzzzzz"');
    expect(code).toBe(2);
  }, 120_000);
});
