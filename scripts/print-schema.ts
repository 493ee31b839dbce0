/**
 * Writes `schema.graphql`: the library's GraphQL surface (DESIGN §5) as the code defines it —
 * the `@uniqueSession` directive with its enums, and the session API. `test/schema.test.ts`
 * fails when the checked-in file differs from what this prints.
 *
 *   npm run schema:print            # writes schema.graphql
 *   npm run schema:print -- --check # exits 1 if schema.graphql is out of date
 */
import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { printedSchemaFile } from '../src/api/type-defs.js';

const target = fileURLToPath(new URL('../schema.graphql', import.meta.url));
const printed = printedSchemaFile();

if (process.argv.includes('--check')) {
  const current = await readFile(target, 'utf8').catch(() => '');
  if (current !== printed) {
    console.error('schema.graphql is out of date: run `npm run schema:print`.');
    process.exit(1);
  }
  console.log('schema.graphql is up to date.');
} else {
  await writeFile(target, printed);
  console.log(`wrote ${target}`);
}
