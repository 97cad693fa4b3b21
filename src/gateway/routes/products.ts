/** The product catalogue the Cart API prices from, and each product's stock level (Inventory). */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { MessageType } from '../../contracts/index.ts';
import { Query } from '../../contracts/subjects.ts';
import { forwarding, type RouteOptions } from '../context.ts';
import { problem, ProductDoc, ProductListDoc, ProductParams, serviceErrors, StockLevelDoc } from '../schemas.ts';

export const productRoutes: FastifyPluginAsyncZod<RouteOptions> = async (app, { ctx }) => {
  const { query } = forwarding(ctx);

  app.get('/products', {
    schema: {
      operationId: 'listProducts',
      summary: 'List the products for sale',
      tags: ['Products'],
      response: { 200: ProductListDoc, ...serviceErrors },
    },
    handler: async (req) =>
      query(req, Query.listProducts, MessageType.listProductsRequest, ProductListDoc, {}),
  });

  app.get('/products/:productId', {
    schema: {
      operationId: 'getProduct',
      summary: 'Get a product',
      tags: ['Products'],
      params: ProductParams,
      response: {
        200: ProductDoc,
        400: problem('The productId is not a UUID.'),
        404: problem('The product was not found.'),
        ...serviceErrors,
      },
    },
    handler: async (req) =>
      query(req, Query.getProduct, MessageType.getProductRequest, ProductDoc, {
        productId: req.params.productId,
      }),
  });

  app.get('/stock/:productId', {
    schema: {
      operationId: 'getStockLevel',
      summary: 'Get the stock level of a product',
      description: "The Inventory Service's get-stock-level.",
      tags: ['Products'],
      params: ProductParams,
      response: {
        200: StockLevelDoc,
        400: problem('The productId is not a UUID.'),
        404: problem('Inventory holds no stock record for this product.'),
        ...serviceErrors,
      },
    },
    handler: async (req) =>
      query(req, Query.getStockLevel, MessageType.getStockLevelRequest, StockLevelDoc, {
        productId: req.params.productId,
      }),
  });
};
