/**
 * Seed data: the product catalog (Cart API), stock levels (Inventory) and promotions (Promotion
 * Service). Each service loads its part at first start, into an empty store. `SEED_FILE` points at
 * a JSON file of the same shape to replace the built-in set (the benchmark uses a 1,000-product one).
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { Currency, Uuid } from '../../contracts/index.ts';
import { uuidv5 } from '../../runtime/ids.ts';

const PRODUCT_NS = '5b3f0c1e-8d2a-4f6b-9c7e-1a2b3c4d5e06';
const PROMOTION_NS = '7c4e1d2f-9e3b-4a7c-8d8f-2b3c4d5e6f07';

export const SeedProduct = z.object({
  productId: Uuid,
  sku: z.string().min(1),
  name: z.string().min(1),
  description: z.string().optional(),
  unitPrice: z.int().min(0),
  currency: Currency,
  imageUrl: z.string().optional(),
  stock: z.int().min(0),
});
export type SeedProduct = z.infer<typeof SeedProduct>;

export const SeedPromotion = z.object({
  promotionId: Uuid,
  code: z.string().min(1),
  description: z.string().optional(),
  type: z.enum(['PERCENTAGE', 'FIXED_AMOUNT']),
  /** Percent (0-100) for PERCENTAGE, minor units for FIXED_AMOUNT. */
  value: z.int().min(0),
  minSpend: z.int().min(0).optional(),
  startsAt: z.string(),
  endsAt: z.string().optional(),
  active: z.boolean().default(true),
});
export type SeedPromotion = z.infer<typeof SeedPromotion>;

export const Seed = z.object({ products: z.array(SeedProduct), promotions: z.array(SeedPromotion) });
export type Seed = z.infer<typeof Seed>;

export const productIdFor = (sku: string): string => uuidv5(sku, PRODUCT_NS);

const product = (sku: string, name: string, unitPrice: number, stock: number, description: string): SeedProduct => ({
  productId: productIdFor(sku),
  sku,
  name,
  description,
  unitPrice,
  currency: 'USD',
  stock,
});

const promotion = (code: string, p: Omit<SeedPromotion, 'promotionId' | 'code' | 'active'>): SeedPromotion => ({
  promotionId: uuidv5(code, PROMOTION_NS),
  code,
  active: true,
  ...p,
});

export const defaultSeed: Seed = {
  products: [
    product('ACME-ANVIL-01', 'Classic Anvil', 12_900, 25, 'Drop-forged, 50 kg. Ships by freight.'),
    product('ACME-ROCKET-SK8', 'Rocket Skates', 8_450, 40, 'Twin solid-fuel boosters. Helmet advised.'),
    product('ACME-GIANT-MAG', 'Giant Magnet', 3_999, 60, 'Horseshoe, industrial strength.'),
    product('ACME-BIRDSEED', 'Bird Seed (5 kg)', 1_250, 200, 'Irresistible. Guaranteed.'),
    product('ACME-DYNAMITE', 'Dynamite Kit', 4_500, 15, 'Fuse, plunger and manual included.'),
    product('ACME-PAINT-HOLE', 'Portable Hole', 19_900, 8, 'Unfolds to 1 m. Keep away from walls you like.'),
    product('ACME-SPRING-SHOES', 'Spring-Powered Shoes', 6_700, 30, 'Adjustable tension, size 38-46.'),
    product('ACME-BATMAN-SUIT', 'Bat-Man Outfit', 9_900, 3, 'Glider wings. Last few in stock.'),
  ],
  promotions: [
    promotion('WELCOME10', { description: '10% off your order', type: 'PERCENTAGE', value: 10, startsAt: '2024-01-01T00:00:00Z' }),
    promotion('SAVE5', { description: '$5 off orders of $50 or more', type: 'FIXED_AMOUNT', value: 500, minSpend: 5_000, startsAt: '2024-01-01T00:00:00Z' }),
    promotion('SPRING2024', { description: 'Expired spring sale', type: 'PERCENTAGE', value: 25, startsAt: '2024-03-01T00:00:00Z', endsAt: '2024-06-01T00:00:00Z' }),
  ],
};

/** The seed to load: the file named by SEED_FILE if set, else the built-in one. */
export function loadSeed(file: string | undefined = process.env.SEED_FILE): Seed {
  if (!file) return defaultSeed;
  return Seed.parse(JSON.parse(readFileSync(file, 'utf8')));
}
