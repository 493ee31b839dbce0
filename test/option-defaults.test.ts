/**
 * Option defaults are written once, in OPTION_DEFAULTS (issue 20 item 5): the option tables of
 * docs/options.md and docs/contract.md, and the command line's help, must say the same, and the
 * tables must list every option and nothing else. No database.
 */

import { readFileSync } from 'node:fs';
import test from 'ava';
import ms from 'ms';
import { runCli } from '../src/cli/program.js';
import { defaultMaxStalenessMs, defaultTouchIntervalMs, OPTION_DEFAULTS } from '../src/option-defaults.js';
import type { SessionControllerOptions } from '../src/options.js';

const root = new URL('../', import.meta.url);
const read = (path: string) => readFileSync(new URL(path, root), 'utf8');

/** Options whose default is a behaviour, described in words in the tables rather than a value. */
const DESCRIBED = [
  'identify',
  'database',
  'ssl',
  'limitFor',
  'isExempt',
  'isAdmin',
  'feedDatabase',
  'readReplicas',
  'onAdmit',
  'onReject',
  'onRevoke',
  'onStoreError',
  'onLeaseEvicted',
  'logger',
] as const;

// Compile-time (CI's `tsc --noEmit`): every option is in OPTION_DEFAULTS or DESCRIBED, and
// nothing else is, so a new option cannot be left out of the tables by leaving it out of both.
type Listed = keyof typeof OPTION_DEFAULTS | (typeof DESCRIBED)[number];
const everyOptionListed: [Exclude<keyof SessionControllerOptions, Listed>] extends [never] ? true : never = true;
const onlyOptionsListed: [Exclude<Listed, keyof SessionControllerOptions>] extends [never] ? true : never = true;

/** Defaults that follow another option: its name must appear in the default's cell. */
const DERIVED_FROM: Record<string, string> = { touchInterval: 'idleTimeout', maxStaleness: 'syncInterval' };

type Value = string | number | boolean | null;

/** `app: { maxSessions }` → `app.maxSessions`, as the tables name nested options. */
function flatten(object: object, prefix = ''): Map<string, Value> {
  const flat = new Map<string, Value>();
  for (const [key, value] of Object.entries(object)) {
    if (value !== null && typeof value === 'object') {
      for (const [k, v] of flatten(value, `${prefix}${key}.`)) flat.set(k, v);
    } else flat.set(`${prefix}${key}`, value as Value);
  }
  return flat;
}

const VALUES = flatten(OPTION_DEFAULTS);
/** What the tables may list: nested options by their dotted names. */
const OPTIONS = new Set<string>([...VALUES.keys(), ...DESCRIBED.filter((name) => !(name in OPTION_DEFAULTS))]);

/** The cells of a table row, split on `|` outside code spans. */
function cells(row: string): string[] {
  const out: string[] = [];
  let cell = '';
  let inCode = false;
  for (const char of row.trim().slice(1, -1)) {
    if (char === '`') inCode = !inCode;
    if (char === '|' && !inCode) {
      out.push(cell.trim());
      cell = '';
    } else cell += char;
  }
  out.push(cell.trim());
  return out;
}

const codeSpans = (text: string) => [...text.matchAll(/`([^`]+)`/g)].map((m) => m[1]);

/** The rows of the markdown table whose header is `| option | default | meaning |`: option names → default cell. */
function optionTable(markdown: string): { rows: Map<string, string>; duplicates: string[] } {
  const lines = markdown.split('\n');
  const header = lines.findIndex((line) => /^\|\s*option\s*\|\s*default\s*\|/.test(line));
  if (header < 0) throw new Error('no "| option | default | meaning |" table');
  const rows = new Map<string, string>();
  const duplicates: string[] = [];
  for (const line of lines.slice(header + 2)) {
    if (!line.startsWith('|')) break;
    const [names, defaultCell] = cells(line);
    // `identify(ctx)` → identify; one row may name several options (the hooks).
    for (const name of codeSpans(names).map((span) => span.replace(/\(.*\)$/, ''))) {
      if (rows.has(name)) duplicates.push(name);
      rows.set(name, defaultCell);
    }
  }
  return { rows, duplicates };
}

/** The default a cell states as a value: its first code span, when that is a literal (`'30m'`, `null`, `10000`). */
function literal(cell: string): { value: Value } | undefined {
  const first = codeSpans(cell)[0]?.trim();
  if (first === undefined) return undefined;
  const quoted = /^'([^']*)'$/.exec(first);
  if (quoted) return { value: quoted[1] };
  if (first === 'null') return { value: null };
  if (first === 'true' || first === 'false') return { value: first === 'true' };
  if (/^\d[\d_,]*$/.test(first)) return { value: Number(first.replace(/[_,]/g, '')) };
  return undefined;
}

/** Every way a table can disagree with OPTION_DEFAULTS, one line each. */
function disagreements(markdown: string): string[] {
  const { rows, duplicates } = optionTable(markdown);
  const problems = duplicates.map((name) => `${name}: listed twice`);
  for (const name of OPTIONS) if (!rows.has(name)) problems.push(`${name}: missing from the table`);
  for (const [name, cell] of rows) {
    if (!OPTIONS.has(name)) {
      problems.push(`${name}: not an option`);
      continue;
    }
    const stated = literal(cell);
    if (VALUES.has(name)) {
      const expected = VALUES.get(name);
      if (!stated)
        problems.push(`${name}: default should be \`${JSON.stringify(expected)}\`, the table says "${cell}"`);
      else if (stated.value !== expected) {
        problems.push(
          `${name}: default is ${JSON.stringify(expected)}, the table says ${JSON.stringify(stated.value)}`,
        );
      }
      const from = DERIVED_FROM[name];
      if (from && !cell.includes(`\`${from}`))
        problems.push(`${name}: the default follows ${from}; the table omits it`);
    } else if (!cell) problems.push(`${name}: no default given`);
    else if (stated) {
      problems.push(`${name}: the table gives a value (${JSON.stringify(stated.value)}); add it to OPTION_DEFAULTS`);
    }
  }
  return problems;
}

test('every option is in OPTION_DEFAULTS or described in words (checked by the type checker)', (t) => {
  t.true(everyOptionListed && onlyOptionsListed);
  t.true(OPTIONS.has('api.maxTotalCount') && OPTIONS.has('identify') && !OPTIONS.has('api'));
});

for (const doc of ['docs/options.md', 'docs/contract.md']) {
  test(`${doc}: its option table lists every option with OPTION_DEFAULTS' default`, (t) => {
    t.deepEqual(disagreements(read(doc)), []);
  });
}

test('the check finds a wrong default, a missing option and an unknown one', (t) => {
  const good = read('docs/options.md');
  const wrong = good.replace("| `idleTimeout` | `'30m'` |", "| `idleTimeout` | `'20m'` |");
  t.not(wrong, good);
  t.deepEqual(disagreements(wrong), ['idleTimeout: default is "30m", the table says "20m"']);
  const derived = good.replace(/(\| `touchInterval` \| `'30s'`)[^|]*/, '$1 ');
  t.deepEqual(disagreements(derived), ['touchInterval: the default follows idleTimeout; the table omits it']);
  const renamed = good.replace('| `cacheSize` |', '| `cacheSizes` |');
  t.deepEqual(disagreements(renamed), ['cacheSize: missing from the table', 'cacheSizes: not an option']);
});

/**
 * The defaults the doc comments of SessionControllerOptions state (what an editor shows on hover):
 * `Default: \`'30m'\`` in an option's comment; in a group's (`app`, `user`, `api`), the first
 * default after `` `maxSessions`: ``.
 */
function docCommentDefaults(source: string): Map<string, Value | undefined> {
  const body = /export interface SessionControllerOptions[^{]*\{([\s\S]*?)\n\}/.exec(source)?.[1] ?? '';
  const stated = new Map<string, Value | undefined>();
  for (const [, comment, option] of body.matchAll(/\/\*\*([\s\S]*?)\*\/\s*(\w+)\?:/g)) {
    const text = comment.replace(/\n\s*\*/g, ' ');
    const defaultAfter = (from: number) => {
      const found = /[Dd]efault:? (`[^`]+`)/.exec(text.slice(from));
      return found ? literal(found[1])?.value : undefined;
    };
    const group = (OPTION_DEFAULTS as Record<string, unknown>)[option];
    if (group !== null && typeof group === 'object') {
      for (const sub of Object.keys(group)) {
        const at = text.indexOf(`\`${sub}\`:`);
        stated.set(`${option}.${sub}`, at < 0 ? undefined : defaultAfter(at));
      }
    } else if (VALUES.has(option)) stated.set(option, defaultAfter(0));
  }
  return stated;
}

test("the doc comments of SessionControllerOptions state OPTION_DEFAULTS' defaults", (t) => {
  const stated = docCommentDefaults(read('src/options.ts'));
  t.deepEqual(Object.fromEntries(stated), Object.fromEntries(VALUES));
  const wrong = read('src/options.ts').replace("Default: `'30d'`.", "Default: `'7d'`.");
  t.is(docCommentDefaults(wrong).get('retention'), '7d', 'the check reads what the comment says');
});

test('the derived defaults follow their rule', (t) => {
  t.is(defaultTouchIntervalMs(null), ms(OPTION_DEFAULTS.touchInterval));
  t.is(defaultTouchIntervalMs(ms('30m')), 30_000, 'a long idle timeout: the default');
  t.is(defaultTouchIntervalMs(ms('10s')), 2_500, 'a short one: a quarter of it');
  t.is(defaultMaxStalenessMs(ms(OPTION_DEFAULTS.syncInterval)), ms(OPTION_DEFAULTS.maxStaleness));
  t.is(defaultMaxStalenessMs(ms('2s')), 8_000, 'a long sync interval: four of them');
});

test("the command line's help gives each GSC_* variable its option's default", async (t) => {
  let help = '';
  const code = await runCli(['--help'], {
    connect: () => Promise.reject(new Error('--help opens no database')),
    output: { out: (text) => void (help += text), err: (text) => void (help += text), errIsTTY: false },
    env: {},
    version: '0.0.0',
  });
  t.is(code, 0);
  const stated = new Map([...help.matchAll(/\b(GSC_[A-Z_]+) \(default ([^)]+)\)/g)].map((m) => [m[1], m[2]]));
  // Every variable the entry point reads as an option (all but the replica list).
  const read = new Set(
    [...readFileSync(new URL('src/cli/main.ts', root), 'utf8').matchAll(/duration\('(GSC_[A-Z_]+)'\)/g)].map(
      (m) => m[1],
    ),
  );
  t.deepEqual([...stated.keys()].sort(), [...read].sort());
  t.true(read.size >= 4);
  for (const [variable, shown] of stated) {
    // GSC_IDLE_TIMEOUT → idleTimeout
    const option = variable
      .slice('GSC_'.length)
      .toLowerCase()
      .replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
    t.true(VALUES.has(option), `${variable} names the option ${option}`);
    t.is(shown, String(VALUES.get(option) ?? 'never'), variable);
  }
});
