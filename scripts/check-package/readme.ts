/**
 * The README's code is the examples' code (scripts/check-package.sh runs this first), and so is
 * the code of the pages it links to (docs/*.md, demo/README.md). A ```ts block whose first line is
 * `// examples/<path>` must equal that file; one whose first line is `// from examples/<path>`
 * holds excerpts of it, separated by `// …` lines, each found verbatim.
 */
import { readdirSync, readFileSync } from 'node:fs';

const root = new URL('../../', import.meta.url);
const pages = [
  'README.md',
  'demo/README.md',
  ...readdirSync(new URL('docs/', root))
    .filter((name) => name.endsWith('.md'))
    .sort()
    .map((name) => `docs/${name}`),
];
const problems: string[] = [];
const counts = new Map<string, number>();

for (const page of pages) {
  const text = readFileSync(new URL(page, root), 'utf8');
  const blocks = [...text.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]);
  let checked = 0;
  for (const block of blocks) {
    const [first, ...rest] = block.split('\n');
    const whole = /^\/\/ (examples\/[^\s:]+)/.exec(first);
    const excerpt = /^\/\/ from (examples\/[^\s:]+)/.exec(first);
    if (excerpt) {
      const file = readFileSync(new URL(excerpt[1], root), 'utf8');
      const parts = rest.join('\n').split('\n// …\n');
      for (const part of parts) {
        if (!file.includes(part.trim()))
          problems.push(`${page}: excerpt of ${excerpt[1]} is not in the file:\n${part.trim()}`);
      }
      checked++;
    } else if (whole) {
      const file = readFileSync(new URL(whole[1], root), 'utf8');
      if (file !== block) problems.push(`${page}: copy of ${whole[1]} differs from the file`);
      checked++;
    }
  }
  if (checked) counts.set(page, checked);
}
const inReadme = counts.get('README.md') ?? 0;
if (inReadme < 3) problems.push(`expected at least 3 README blocks taken from examples/, found ${inReadme}`);
if (problems.length) {
  console.error(problems.join('\n\n'));
  process.exit(1);
}
console.log(`code blocks that match examples/: ${[...counts].map(([page, n]) => `${page} ${n}`).join(', ')}`);
