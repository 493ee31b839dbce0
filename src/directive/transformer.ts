/**
 * `@uniqueSession` on schema-first schemas: wraps only the governed fields' resolvers, so every
 * other field runs as the host wrote it.
 */
import { getDirective, MapperKind, mapSchema } from '@graphql-tools/utils';
import { defaultFieldResolver, type GraphQLFieldResolver, type GraphQLSchema } from 'graphql';
import { SessionConfigError } from '../errors.js';
import { resolveUniqueSessionConfig, type UniqueSessionConfig } from './config.js';
import { checkUniqueSession, UNIQUE_SESSION_EXTENSION } from './enforce.js';
import { UNIQUE_SESSION_DIRECTIVE } from './type-defs.js';

/**
 * Enforces `@uniqueSession` on a schema-first executable schema (built with `uniqueSessionTypeDefs`):
 * returns a copy in which only the governed fields' resolvers are wrapped; every other field
 * keeps its resolver as it was. Invalid arguments throw a `SessionConfigError` naming the field.
 * Fields already enforced by the `@UniqueSession()` decorator are left alone.
 */
export function uniqueSessionTransformer(schema: GraphQLSchema): GraphQLSchema {
  return mapSchema(schema, {
    [MapperKind.OBJECT_FIELD]: (fieldConfig, fieldName, typeName) => {
      if (fieldConfig.extensions?.[UNIQUE_SESSION_EXTENSION]) return fieldConfig;
      const coordinate = `${typeName}.${fieldName}`;
      let applied: Array<Record<string, unknown>> | undefined;
      try {
        applied = getDirective(schema, fieldConfig, UNIQUE_SESSION_DIRECTIVE);
      } catch (error) {
        // A value graphql cannot coerce, e.g. `scope: EVERYONE` or `max: "1"`.
        throw new SessionConfigError(`Invalid @uniqueSession on ${coordinate}: ${(error as Error).message}`);
      }
      if (!applied?.length) return fieldConfig;
      const config = resolveUniqueSessionConfig(applied[0], coordinate);
      return {
        ...fieldConfig,
        resolve: governed(config, coordinate, fieldConfig.resolve ?? defaultFieldResolver),
        extensions: { ...fieldConfig.extensions, [UNIQUE_SESSION_EXTENSION]: config },
      };
    },
  });
}

function governed(
  config: UniqueSessionConfig,
  coordinate: string,
  resolve: GraphQLFieldResolver<unknown, unknown>,
): GraphQLFieldResolver<unknown, unknown> {
  return (source, args, contextValue, info) => {
    const check = checkUniqueSession(config, coordinate, contextValue, info);
    // Inert (controller disabled): the original resolver, synchronously, as if undecorated.
    return check
      ? check.then(() => resolve(source, args, contextValue, info))
      : resolve(source, args, contextValue, info);
  };
}
