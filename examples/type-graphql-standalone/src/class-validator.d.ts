// examples/type-graphql-standalone/src/class-validator.d.ts
// type-graphql 2.0.0-rc.4's own declarations import two types from `class-validator`, an optional
// peer of type-graphql that this app does not use. Without `skipLibCheck`, TypeScript needs them:
// this file declares them. (Install `class-validator` instead if you validate arguments with it.)
declare module 'class-validator' {
  export type ValidationError = Record<string, unknown>;
  export type ValidatorOptions = Record<string, unknown>;
}
