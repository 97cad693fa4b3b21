/**
 * A shopper over the gateway's HTTP API (a real listening server): add to a cart, check out,
 * wait for the checkout's final status.
 */
import { randomUUID } from 'node:crypto';

export async function buyOverHttp(base: string, customerId: string, productId: string, promotionCode?: string): Promise<{ checkoutId: string; orderId: string; status: string }> {
  const cartId = randomUUID();
  const post = async (path: string, body: unknown) => {
    const res = await fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', 'idempotency-key': randomUUID() }, body: JSON.stringify(body) });
    if (!res.ok) throw new Error(`POST ${path}: HTTP ${res.status} ${await res.text()}`);
    return (await res.json()) as Record<string, unknown>;
  };
  await post(`/carts/${cartId}/items`, { productId, quantity: 1 });
  const cart = await post(`/carts/${cartId}/checkout`, { customerId, ...(promotionCode ? { promotionCode } : {}) });
  const checkoutId = String(cart.checkoutId);
  const end = Date.now() + 20_000;
  for (;;) {
    const res = await fetch(`${base}/checkouts/${checkoutId}`);
    const doc = res.ok ? ((await res.json()) as { status: string }) : undefined;
    if (doc && doc.status !== 'PENDING') return { checkoutId, orderId: String(cart.orderId), status: doc.status };
    if (Date.now() > end) throw new Error(`checkout ${checkoutId} did not finish: ${JSON.stringify(doc)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
