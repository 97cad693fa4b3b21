import { describe, expect, it } from 'vitest';
import { createSimulator, defaultSimulatorRules, simulatorRoll } from '../../src/actors/payment/simulator.ts';

const noSleep = async () => {};

describe('the simulated payment processor', () => {
  it('answers a repeat of an order with the verdict it gave, and charges once', async () => {
    const processor = createSimulator(defaultSimulatorRules, noSleep);
    const req = { orderId: 'order-1', customerId: 'c', amount: 500, currency: 'USD' };
    expect(await processor.authorize(req)).toEqual({ outcome: 'approved' });
    expect(await processor.authorize(req)).toEqual({ outcome: 'approved' });
    expect(processor.attempts('order-1')).toBe(2);
    expect(processor.approvals('order-1')).toBe(1);
    expect([...processor.approvalCounts()]).toEqual([['order-1', 1]]);
  });

  it('keeps its first verdict even when the rules would now decide otherwise', async () => {
    const rules = { ...defaultSimulatorRules, declineCustomers: ['late'] };
    const processor = createSimulator(rules, noSleep);
    expect((await processor.authorize({ orderId: 'o', customerId: 'c', amount: 1, currency: 'USD' })).outcome).toBe('approved');
    expect((await processor.authorize({ orderId: 'o', customerId: 'late', amount: 1, currency: 'USD' })).outcome).toBe('approved');
  });

  it('decides afresh after an outage, which decided nothing', async () => {
    const orderId = Array.from({ length: 200 }, (_, i) => `order-${i}`).find(
      (id) => simulatorRoll(id, 1) < 0.5 && simulatorRoll(id, 2) >= 0.5,
    )!;
    const processor = createSimulator({ ...defaultSimulatorRules, transientFailureRate: 0.5 }, noSleep);
    const req = { orderId, amount: 1, currency: 'USD' };
    await expect(processor.authorize(req)).rejects.toThrow(/outage/);
    expect(processor.approvals(orderId)).toBe(0);
    expect(await processor.authorize(req)).toEqual({ outcome: 'approved' });
    expect(processor.approvals(orderId)).toBe(1);
  });

  it('forgets the order asked about longest ago past the orders it remembers, keeping the newer ones', async () => {
    const processor = createSimulator(defaultSimulatorRules, noSleep, 3);
    for (const orderId of ['o1', 'o2', 'o3', 'o4']) await processor.authorize({ orderId, customerId: 'c', amount: 1, currency: 'USD' });
    await processor.authorize({ orderId: 'o2', customerId: 'c', amount: 1, currency: 'USD' });
    expect(processor.attempts('o1')).toBe(0);
    expect(['o2', 'o3', 'o4'].map((id) => processor.attempts(id))).toEqual([2, 1, 1]);
    expect([...processor.approvalCounts()]).toEqual([['o2', 1], ['o3', 1], ['o4', 1]]);
  });
});
