// graphql-yoga 5.24's declarations (through @whatwg-node/fetch) name the global `URLPattern`,
// which Node 20's types (@types/node 20) do not declare. Declared here so that this app
// type-checks every package's declarations, ours included (no skipLibCheck). Yoga's also need
// `lib: ESNext.Disposable` and `strictBuiltinIteratorReturn: false` (its lru-cache's declarations
// predate TypeScript 5.6): see tsconfig.json.
declare global {
  type URLPattern = any;
  var URLPattern: any;
}

export {};
