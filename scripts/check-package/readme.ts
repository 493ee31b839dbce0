/**
 * The README's code is the examples' code (scripts/check-package.sh runs this first). A ```ts block
 * whose first line is `// examples/<path>` must equal that file; one whose first line is
 * `// from examples/<path>` holds excerpts of it, separated by `// …` lines, each found verbatim.
 */
import { readFileSync } from 'node:fs';

const root = new URL('../../', import.meta.url);
const readme = readFileSync(new URL('README.md', root), 'utf8');
const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]);
let checked = 0;
const problems: string[] = [];

for (const block of blocks) {
  const [first, ...rest] = block.split('\n');
  const whole = /^\/\/ (examples\/[^\s:]+)/.exec(first);
  const excerpt = /^\/\/ from (examples\/[^\s:]+)/.exec(first);
  if (excerpt) {
    const file = readFileSync(new URL(excerpt[1], root), 'utf8');
    const parts = rest.join('\n').split('\n// …\n');
    for (const part of parts) {
      if (!file.includes(part.trim()))
        problems.push(`README excerpt of ${excerpt[1]} is not in the file:\n${part.trim()}`);
    }
    checked++;
  } else if (whole) {
    const file = readFileSync(new URL(whole[1], root), 'utf8');
    if (file !== block) problems.push(`README's copy of ${whole[1]} differs from the file`);
    checked++;
  }
}
if (checked < 3) problems.push(`expected at least 3 README blocks taken from examples/, found ${checked}`);
if (problems.length) {
  console.error(problems.join('\n\n'));
  process.exit(1);
}
console.log(`README: ${checked} code blocks match examples/`);
