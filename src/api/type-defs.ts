import 'reflect-metadata';
import { buildSchema as buildSdlSchema, printSchema } from 'graphql';
import { buildSchemaSync } from 'type-graphql';
import { uniqueSessionTypeDefs } from '../directive/type-defs.js';
import { createSessionResolvers } from './resolvers.js';

let apiSdl: string | undefined;

/**
 * The session API's SDL (types, `Query`, `Mutation`, `scalar DateTimeISO`), printed from the
 * type-graphql classes so both schema styles serve one definition.
 */
export function sessionApiTypeDefs(): string {
  apiSdl ??= printSchema(
    buildSchemaSync({
      resolvers: createSessionResolvers(() => {
        throw new Error('this schema is for printing only');
      }),
      // Whatever a host sets globally, the printed surface is the one DESIGN §5 describes.
      nullableByDefault: false,
      validate: false,
    }),
  );
  return apiSdl;
}

let librarySdl: string | undefined;

/**
 * Everything the library adds to a schema: the `@uniqueSession` directive with its enums, and the
 * session API. This is what `schema.graphql` holds, and what schema-first servers merge with
 * their own type definitions.
 */
export function sessionTypeDefs(): string {
  librarySdl ??= printSchema(buildSdlSchema(`${uniqueSessionTypeDefs}\n${sessionApiTypeDefs()}`));
  return librarySdl;
}

/** The text of `schema.graphql`: a header, then `sessionTypeDefs()`. */
export function printedSchemaFile(): string {
  return `# graphql-session-controller: what the library adds to a GraphQL schema.
# Generated from the code by \`npm run schema:print\`; do not edit by hand.

${sessionTypeDefs()}
`;
}
