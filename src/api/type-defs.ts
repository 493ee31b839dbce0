/**
 * What the library adds to a schema, as text: schema-first servers merge it without loading
 * type-graphql, and `schema.graphql` is this.
 */

import { buildSchema, printSchema } from 'graphql';
import { uniqueSessionTypeDefs } from '../directive/type-defs.js';
import { sessionApiSdl } from './sdl.js';

let librarySdl: string | undefined;

/**
 * Everything the library adds to a schema: the `@uniqueSession` directive with its enums, and the
 * session API. This is what `schema.graphql` holds, and what schema-first servers merge with
 * their own type definitions. Built from text, so a schema-first server never loads type-graphql.
 */
export function sessionTypeDefs(): string {
  librarySdl ??= printSchema(buildSchema(`${uniqueSessionTypeDefs}\n${sessionApiSdl}`));
  return librarySdl;
}
