/**
 * The product catalogue the Cart API prices from: loaded once from the seed into an empty store,
 * then read-only. A line's unit price is captured from here when the item is added.
 */
import type { Product } from '../../contracts/index.ts';
import type { SeedProduct } from '../seed/seed.ts';
import type { Db, Store } from '../../runtime/store.ts';

interface ProductRow {
  product_id: string;
  sku: string;
  name: string;
  description: string | null;
  unit_price_cents: number;
  currency: string;
  image_url: string | null;
}

const SEEDED_KEY = 'cart.products.seeded';

const toProduct = (r: ProductRow): Product => ({
  productId: r.product_id,
  sku: r.sku,
  name: r.name,
  ...(r.description !== null ? { description: r.description } : {}),
  unitPrice: r.unit_price_cents,
  currency: r.currency,
  ...(r.image_url !== null ? { imageUrl: r.image_url } : {}),
});

export class ProductCatalog {
  private readonly stmt;

  constructor(private readonly db: Db) {
    this.stmt = {
      get: db.prepare('SELECT * FROM products WHERE product_id = ?'),
      list: db.prepare('SELECT * FROM products ORDER BY name, product_id'),
    };
  }

  /**
   * Loads the seed at first start only: a marker in `meta` records that it happened, so a later
   * start (or an operator who removed a product) is never overwritten by the seed.
   */
  async seedOnce(store: Store, products: readonly SeedProduct[]): Promise<number> {
    return store.write((db) => {
      if (db.prepare('SELECT 1 FROM meta WHERE key = ?').get(SEEDED_KEY)) return 0;
      const insert =
        db.prepare(`INSERT INTO products (product_id, sku, name, description, unit_price_cents, currency, image_url)
        VALUES (@productId, @sku, @name, @description, @unitPrice, @currency, @imageUrl)`);
      for (const p of products) {
        insert.run({
          productId: p.productId,
          sku: p.sku,
          name: p.name,
          description: p.description ?? null,
          unitPrice: p.unitPrice,
          currency: p.currency,
          imageUrl: p.imageUrl ?? null,
        });
      }
      db.prepare('INSERT INTO meta (key, value) VALUES (?, ?)').run(SEEDED_KEY, String(products.length));
      return products.length;
    });
  }

  get(productId: string): Product | undefined {
    const row = this.stmt.get.get(productId) as ProductRow | undefined;
    return row && toProduct(row);
  }

  list(): Product[] {
    return (this.stmt.list.all() as ProductRow[]).map(toProduct);
  }
}
