/**
 * Writes the library's GraphQL surface (docs/contract.md §5) as the code defines it:
 * - `src/api/sdl.ts`: the session API's SDL printed from the type-graphql classes, as text, so
 *   that schema-first servers get the same definition without loading type-graphql;
 * - `schema.graphql`: that, with the `@uniqueSession` directive and its enums.
 * `test/schema.test.ts` fails when either checked-in file differs from what this prints.
 *
 *   npm run schema:print            # writes both files
 *   npm run schema:print -- --check # exits 1 if either is out of date
 */
import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { printApiSchemaFromClasses } from './api-schema-from-classes.js';

const sdlModule = fileURLToPath(new URL('../src/api/sdl.ts', import.meta.url));
const schemaFile = fileURLToPath(new URL('../schema.graphql', import.meta.url));

export function sdlModuleText(): string {
  return `// Generated from the type-graphql classes in ./types by \`npm run schema:print\`; do not edit by hand.
/** The session API's SDL: types, \`Query\`, \`Mutation\` and \`scalar DateTimeISO\`. */
export const sessionApiSdl: string = ${JSON.stringify(printApiSchemaFromClasses())};
`;
}

/** The text of `schema.graphql`: a header, then the library's type definitions (`sessionTypeDefs()`). */
export function printedSchemaFile(typeDefs: string): string {
  return `# graphql-session-controller: what the library adds to a GraphQL schema.
# Generated from the code by \`npm run schema:print\`; do not edit by hand.

${typeDefs}
`;
}

async function main(): Promise<void> {
  const check = process.argv.includes('--check');
  const moduleText = sdlModuleText();
  if (!check) await writeFile(sdlModule, moduleText);
  // The printed file is built from the module just written, so both always agree.
  const { sessionTypeDefs } = await import('../src/api/type-defs.js');
  const targets: Array<[string, string]> = [
    [sdlModule, moduleText],
    [schemaFile, printedSchemaFile(sessionTypeDefs())],
  ];
  let stale = false;
  for (const [path, text] of targets) {
    const current = await readFile(path, 'utf8').catch(() => '');
    if (current === text) continue;
    if (check) {
      console.error(`${path} is out of date: run \`npm run schema:print\`.`);
      stale = true;
    } else {
      await writeFile(path, text);
      console.log(`wrote ${path}`);
    }
  }
  if (stale) process.exit(1);
  if (check) console.log('schema.graphql and src/api/sdl.ts are up to date.');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
