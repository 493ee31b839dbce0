/**
 * `@UniqueSession()` for type-graphql: the field carries the directive in the printed schema and
 * is enforced by a middleware on that field only.
 */
import { Directive, Extensions, type MiddlewareFn, UseMiddleware } from 'type-graphql';
import {
  resolveUniqueSessionConfig,
  type UniqueSessionConfig,
  type UniqueSessionOptions,
  uniqueSessionSdl,
} from './config.js';
import { checkUniqueSession, UNIQUE_SESSION_EXTENSION } from './enforce.js';
import { UNIQUE_SESSION_DIRECTIVE } from './type-defs.js';

/**
 * type-graphql method decorator: applies `@uniqueSession(max, scope, onLimit)` to the field
 * (visible in the printed schema and in the field's `astNode`) and enforces it with a middleware
 * on this field only. Invalid options throw a `SessionConfigError` when the class is defined.
 *
 * ```ts
 * @Query(() => String) @UniqueSession({ max: 1 })
 * exam(): string { … }
 * ```
 */
export function UniqueSession(options?: UniqueSessionOptions): MethodDecorator {
  return (prototype, propertyKey, descriptor) => {
    const owner = typeof prototype === 'function' ? prototype.name : prototype.constructor.name;
    const config = resolveUniqueSessionConfig(options, `${owner}.${String(propertyKey)}`);
    Directive(uniqueSessionSdl(config, UNIQUE_SESSION_DIRECTIVE))(prototype, propertyKey, descriptor);
    Extensions({ [UNIQUE_SESSION_EXTENSION]: config })(prototype, propertyKey, descriptor);
    UseMiddleware(uniqueSessionMiddleware(config))(prototype, propertyKey, descriptor);
  };
}

function uniqueSessionMiddleware(config: UniqueSessionConfig): MiddlewareFn<object> {
  return async ({ context, info }, next) => {
    const check = checkUniqueSession(config, `${info.parentType.name}.${info.fieldName}`, context, info);
    if (check) await check;
    return next();
  };
}
