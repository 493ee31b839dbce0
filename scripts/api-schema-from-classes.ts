/**
 * Prints the session API's SDL from the type-graphql classes, the source `sdl.ts` is generated
 * from; only the schema script and its drift test load it.
 */
import 'reflect-metadata';
import { printSchema } from 'graphql';
import { buildSchemaSync } from 'type-graphql';
import { sessionResolvers } from '../src/api/resolvers.js';
import type { SessionApi } from '../src/api/session-api.js';

/**
 * The session API's SDL as the type-graphql classes define it: the source of truth that
 * `npm run schema:print` writes into `src/api/sdl.ts` (for schema-first servers, which must not need
 * type-graphql) and that a test compares with it.
 */
export function printApiSchemaFromClasses(): string {
  return printSchema(
    buildSchemaSync({
      resolvers: sessionResolvers(
        {
          get api(): SessionApi {
            throw new Error('this schema is for printing only');
          },
        },
        { subscriptions: true },
      ),
      // type-graphql wants one for any subscription; sessionEvents brings its own stream.
      pubSub: { publish: () => {}, subscribe: () => (async function* () {})() },
      // Whatever a host sets globally, the printed surface is the one docs/contract.md §5 describes.
      nullableByDefault: false,
      validate: false,
    }),
  );
}
