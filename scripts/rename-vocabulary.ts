/**
 * Renames the library's internal identifiers and files to the glossary of src/vocabulary.ts
 * (issue 20, "one word per concept"): "lease" for `@uniqueSession` (never "seat"), "place" for
 * room under a cap, one name for the kill switch (`enabled`), "table" for one part of the store,
 * "reads" for the session API's read statements, "pool share" for its fair queue.
 *
 * Renames go by symbol, through the TypeScript language service, not by text: a declaration is
 * found by its file (or folder), its name and, where a name is common, the names of what
 * encloses it or its type; every reference in the project (tsconfig.json) follows. Files move
 * with `git mv`, and every module specifier that resolved to a moved file is rewritten.
 * Public names (options, GraphQL schema, error and close codes, log texts, the package's
 * exports) are not touched; nor are comments, except a moved file's name where it is cited.
 *
 * Idempotent: an entry whose old name or file no longer exists is skipped and said so.
 * Run: `npx tsx scripts/rename-vocabulary.ts` (then `npx tsc --noEmit -p .`).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

const root = path.resolve(import.meta.dirname, '..');

/** A file or folder that moves (`git mv`). */
interface FileRename {
  from: string;
  to: string;
}

/**
 * Every declaration named `name` under `in` (a file or a folder, by its path before the file
 * renames) becomes `to`; narrowed to those enclosed by declarations named `within` (outermost
 * first, gaps allowed) and to those whose type prints as one of `type`.
 */
interface SymbolRename {
  in: string;
  name: string;
  to: string;
  within?: string[];
  type?: string[];
  /** Also properties of object literals no declared type links to (`{ name: value }`). */
  assignments?: boolean;
}

const FILE_RENAMES: FileRename[] = [
  { from: 'src/runtime/seat-keeper.ts', to: 'src/runtime/lease-keeper.ts' },
  { from: 'src/store/session-store.ts', to: 'src/store/session-table.ts' },
  { from: 'src/store/lease-store.ts', to: 'src/store/lease-table.ts' },
  { from: 'src/store/limit-rule-store.ts', to: 'src/store/limit-rule-table.ts' },
  { from: 'src/store/app-count-store.ts', to: 'src/store/app-count-table.ts' },
  { from: 'src/store/prune-store.ts', to: 'src/store/prune-batches.ts' },
  { from: 'src/store/session-queries.ts', to: 'src/store/session-reads.ts' },
  { from: 'test/ws-seats.test.ts', to: 'test/ws-leases.test.ts' },
];

const SYMBOL_RENAMES: SymbolRename[] = [
  // "lease": what a session holds on a `@uniqueSession` field (docs/contract.md rule 6).
  { in: 'src/runtime/seat-keeper.ts', name: 'SeatKeeper', to: 'LeaseKeeper' },
  { in: 'src/runtime/seat-keeper.ts', name: 'SEAT_CHECK_INTERVAL_MS', to: 'LEASE_CHECK_INTERVAL_MS' },
  { in: 'src/runtime/seat-keeper.ts', name: 'SeatRenewal', to: 'LeaseRenewal' },
  { in: 'src/runtime/seat-keeper.ts', name: 'seats', to: 'leases' },
  { in: 'src/runtime/seat-keeper.ts', name: 'seat', to: 'lease' },
  { in: 'src/store/lease-store.ts', name: 'SeatKey', to: 'LeaseKey' },
  { in: 'src/store/lease-store.ts', name: 'seats', to: 'leases' },
  { in: 'src/runtime/contracts.ts', name: 'endSeat', to: 'endLease', within: ['LeaseDirectory'] },
  { in: 'src/runtime/leases.ts', name: 'endSeat', to: 'endLease' },
  { in: 'src/runtime/leases.ts', name: 'seats', to: 'leases' },
  { in: 'src/websocket.ts', name: 'seats', to: 'leases', within: ['HeldSeats'] },
  { in: 'src/websocket.ts', name: 'HeldSeats', to: 'HeldLeases' },
  { in: 'src/websocket.ts', name: 'seats', to: 'leaseKeeper', within: ['WebSocketRuntimes'] },
  { in: 'src/websocket.ts', name: 'keptSeats', to: 'keptLeases' },
  { in: 'src/websocket.ts', name: 'heldSeats', to: 'heldLeases' },
  { in: 'src/websocket.ts', name: 'seatLost', to: 'leaseLost' },
  { in: 'src/websocket.ts', name: 'seats', to: 'leases' },
  { in: 'src/websocket.ts', name: 'seat', to: 'lease' },
  { in: 'src/controller.ts', name: 'seats', to: 'leaseKeeper', within: ['SessionController'] },
  { in: 'src/envelop/plugin.ts', name: 'Seat', to: 'LeaseField' },
  { in: 'src/envelop/plugin.ts', name: 'seats', to: 'leases' },
  { in: 'src/envelop/plugin.ts', name: 'seat', to: 'lease' },
  // "place": room for one more session under the app or a user cap.
  { in: 'src/runtime/refused-keys.ts', name: 'seatsFreed', to: 'placesFreed' },
  // The kill switch is `enabled` (the option's name); its off state is "disabled".
  { in: 'src/controller.ts', name: 'NO_CAPS', to: 'DISABLED_GOVERNANCE' },
  { in: 'src/plugin.ts', name: 'inertPlugin', to: 'disabledPlugin' },
  { in: 'src/directive/enforce.ts', name: 'markSchemaInert', to: 'markSchemaDisabled' },
  { in: 'src/directive/enforce.ts', name: 'inertSchemas', to: 'disabledSchemas' },
  { in: 'src/adapter-runtimes.ts', name: 'governs', to: 'enabled', within: ['AdapterRuntimes'] },
  { in: 'src/websocket.ts', name: 'governs', to: 'enabled', within: ['WebSocketRuntimes'] },
  // "store": the database the library keeps its state in, reached through `Store`; one part of
  // it, the statements of one table, is a "table"; the session API's read statements are "reads".
  { in: 'src/store/session-store.ts', name: 'SessionStore', to: 'SessionTable' },
  { in: 'src/store/lease-store.ts', name: 'LeaseStore', to: 'LeaseTable' },
  { in: 'src/store/limit-rule-store.ts', name: 'LimitRuleStore', to: 'LimitRuleTable' },
  { in: 'src/store/app-count-store.ts', name: 'AppCountStore', to: 'AppCountTable' },
  { in: 'src/store/prune-store.ts', name: 'PruneStore', to: 'PruneBatches' },
  { in: 'src/store/session-queries.ts', name: 'SessionQueries', to: 'SessionReads' },
  { in: 'src/store/store.ts', name: 'queries', to: 'reads', assignments: true },
  { in: 'src/runtime', name: 'store', to: 'table', type: ['SessionTable', 'LeaseTable', 'AppCountTable'] },
  { in: 'src/runtime', name: 'store', to: 'pruning', type: ['PruneBatches'] },
  { in: 'test', name: 'store', to: 'table', type: ['SessionTable'] },
  { in: 'test', name: 'stores', to: 'tables', type: ['SessionTable[]'] },
  { in: 'test', name: 'queries', to: 'sessionReads', type: ['SessionReads'] },
  // "queries" of the session API: its share of the pool, taken in turns (fair-queue.ts).
  { in: 'src/api/session-api.ts', name: 'queries', to: 'poolShare', type: ['FairQueue'] },
  { in: 'src/api/session-api.ts', name: 'store', to: 'inTurn', within: ['SessionApi'] },
];

/**
 * Renamed names distinctive enough to follow where prose cites them (comments, docs); common
 * words (`seat`, `store`, `queries`) are left to a reader.
 */
const CITED_NAMES = new Map(
  SYMBOL_RENAMES.filter(({ name }) => /[A-Z]/.test(name.slice(1)) || /_/.test(name) || name === 'seatsFreed').map(
    ({ name, to }) => [name, to],
  ),
);

/** Files where a moved file's name stays as written: records of the past, and this script. */
const HISTORY = [/^CHANGELOG\.md$/, /^bench\/results\//, /^scripts\/rename-vocabulary\.ts$/];

const git = (...args: string[]) => execFileSync('git', args, { cwd: root, encoding: 'utf8' });
const rel = (file: string) => path.relative(root, file).split(path.sep).join('/');
const abs = (file: string) => path.resolve(root, file);

function log(line: string): void {
  process.stdout.write(`${line}\n`);
}

const touched = new Set<string>();

// 1. Files.
const moved = new Map<string, string>();
for (const { from, to } of FILE_RENAMES) {
  if (existsSync(abs(from)) && !existsSync(abs(to))) {
    git('mv', from, to);
    moved.set(abs(from), abs(to));
    touched.add(abs(to));
    log(`moved   ${from} -> ${to}`);
  } else if (existsSync(abs(to))) {
    log(`skipped ${from} -> ${to} (already moved)`);
  } else {
    log(`skipped ${from} -> ${to} (no such file)`);
  }
}

const parsed = ts.getParsedCommandLineOfConfigFile(abs('tsconfig.json'), undefined, {
  ...ts.sys,
  onUnRecoverableConfigFileDiagnostic: (d) => {
    throw new Error(ts.flattenDiagnosticMessageText(d.messageText, '\n'));
  },
});
if (!parsed) throw new Error('Cannot read tsconfig.json');
const projectFiles = parsed.fileNames.map((f) => path.resolve(f));

/** A relative module specifier as `from` would write it to reach `target` (a .ts file), in `like`'s style. */
function specifierFor(from: string, target: string, like: string): string {
  let spec = path.relative(path.dirname(from), target).split(path.sep).join('/');
  if (!spec.startsWith('.')) spec = `./${spec}`;
  const ext = path.extname(like);
  const base = spec.slice(0, -path.extname(spec).length);
  return ext ? `${base}${ext === '.ts' ? '.ts' : '.js'}` : base;
}

/** The .ts file a relative specifier of `from` names (NodeNext: `./x.js` is `./x.ts`). */
function resolveSpecifier(fromDir: string, spec: string): string {
  const target = path.resolve(fromDir, spec);
  const ext = path.extname(target);
  if (ext === '.js') return `${target.slice(0, -3)}.ts`;
  if (ext === '') return `${target}.ts`;
  return target;
}

function moduleSpecifiers(source: ts.SourceFile): ts.StringLiteralLike[] {
  const found: ts.StringLiteralLike[] = [];
  const visit = (node: ts.Node) => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier) {
      if (ts.isStringLiteralLike(node.moduleSpecifier)) found.push(node.moduleSpecifier);
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) {
      if (ts.isStringLiteralLike(node.argument.literal)) found.push(node.argument.literal);
    } else if (
      ts.isCallExpression(node) &&
      node.expression.kind === ts.SyntaxKind.ImportKeyword &&
      node.arguments[0] &&
      ts.isStringLiteralLike(node.arguments[0])
    ) {
      found.push(node.arguments[0]);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

// Module specifiers that named a moved file, in every project file (and a moved file's own).
if (moved.size) {
  const oldPathOf = new Map([...moved].map(([from, to]) => [to, from]));
  for (const file of projectFiles) {
    const text = readFileSync(file, 'utf8');
    const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
    const oldDir = path.dirname(oldPathOf.get(file) ?? file);
    const edits: Array<{ start: number; end: number; text: string }> = [];
    for (const literal of moduleSpecifiers(source)) {
      if (!literal.text.startsWith('.')) continue;
      const target = resolveSpecifier(oldDir, literal.text);
      const now = moved.get(target) ?? target;
      const spec = specifierFor(file, now, literal.text);
      if (spec !== literal.text) edits.push({ start: literal.getStart() + 1, end: literal.getEnd() - 1, text: spec });
    }
    if (edits.length) {
      writeFileSync(file, applyEdits(text, edits));
      touched.add(file);
    }
  }
  // Where a moved file is cited by name (comments, docs, scripts, CI), the name follows it.
  const tracked = git('ls-files').split('\n').filter(Boolean);
  for (const name of tracked) {
    if (HISTORY.some((pattern) => pattern.test(name)) || !/\.(ts|md|json|ya?ml|sh|mjs|cjs|js)$/.test(name)) continue;
    const file = abs(name);
    if (!existsSync(file)) continue;
    const text = readFileSync(file, 'utf8');
    let next = text;
    for (const [from, to] of moved) {
      const [oldBase, newBase] = [path.basename(from, '.ts'), path.basename(to, '.ts')];
      next = next.replace(new RegExp(`(?<![\\w-])${escapeRegExp(oldBase)}\\.(ts|js)\\b`, 'g'), `${newBase}.$1`);
      next = next.replace(new RegExp(`(?<![\\w-])${escapeRegExp(rel(from))}\\b`, 'g'), rel(to));
    }
    if (next !== text) {
      writeFileSync(file, next);
      touched.add(file);
      log(`cited   ${name}`);
    }
  }
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function applyEdits(text: string, edits: Array<{ start: number; end: number; text: string }>): string {
  let out = text;
  for (const edit of [...edits].sort((a, b) => b.start - a.start)) {
    out = out.slice(0, edit.start) + edit.text + out.slice(edit.end);
  }
  return out;
}

// Renamed names where prose cites them, in the files git tracks (the code's own were renamed above).
function citeRenamedNames(): void {
  const pattern = new RegExp(`(?<![\\w$])(${[...CITED_NAMES.keys()].map(escapeRegExp).join('|')})(?![\\w$])`, 'g');
  for (const name of git('ls-files').split('\n').filter(Boolean)) {
    if (HISTORY.some((history) => history.test(name)) || !/\.(ts|md)$/.test(name)) continue;
    const file = abs(name);
    if (!existsSync(file)) continue;
    const text = readFileSync(file, 'utf8');
    const next = text.replace(pattern, (found) => CITED_NAMES.get(found) ?? found);
    if (next !== text) {
      writeFileSync(file, next);
      touched.add(file);
      log(`cited   ${name} (names)`);
    }
  }
}

// 2. Symbols, one rename at a time on the language service's current view of the files.
const texts = new Map<string, { text: string; version: number }>();
for (const file of projectFiles) texts.set(file, { text: readFileSync(file, 'utf8'), version: 0 });

const service = ts.createLanguageService(
  {
    getCompilationSettings: () => parsed.options,
    getScriptFileNames: () => projectFiles,
    getScriptVersion: (file) => String(texts.get(path.resolve(file))?.version ?? 0),
    getScriptSnapshot: (file) => {
      const known = texts.get(path.resolve(file));
      if (known) return ts.ScriptSnapshot.fromString(known.text);
      return existsSync(file) ? ts.ScriptSnapshot.fromString(readFileSync(file, 'utf8')) : undefined;
    },
    getCurrentDirectory: () => root,
    getDefaultLibFileName: (options) => ts.getDefaultLibFilePath(options),
    fileExists: (file) => texts.has(path.resolve(file)) || ts.sys.fileExists(file),
    readFile: (file) => texts.get(path.resolve(file))?.text ?? ts.sys.readFile(file),
    readDirectory: ts.sys.readDirectory,
    directoryExists: ts.sys.directoryExists,
    getDirectories: ts.sys.getDirectories,
  },
  ts.createDocumentRegistry(),
);

const DECLARATIONS = new Set([
  ts.SyntaxKind.VariableDeclaration,
  ts.SyntaxKind.Parameter,
  ts.SyntaxKind.PropertyDeclaration,
  ts.SyntaxKind.PropertySignature,
  ts.SyntaxKind.MethodDeclaration,
  ts.SyntaxKind.MethodSignature,
  ts.SyntaxKind.FunctionDeclaration,
  ts.SyntaxKind.ClassDeclaration,
  ts.SyntaxKind.InterfaceDeclaration,
  ts.SyntaxKind.TypeAliasDeclaration,
  ts.SyntaxKind.BindingElement,
  ts.SyntaxKind.GetAccessor,
]);

/** The names of the declarations enclosing `node`, outermost first. */
function enclosingNames(node: ts.Node): string[] {
  const names: string[] = [];
  for (let at = node.parent?.parent; at; at = at.parent) {
    const name = (at as { name?: ts.Node }).name;
    if (name && ts.isIdentifier(name) && DECLARATIONS.has(at.kind)) names.unshift(name.text);
  }
  return names;
}

function isSubsequence(wanted: string[], names: string[]): boolean {
  let i = 0;
  for (const name of names) if (name === wanted[i]) i++;
  return i === wanted.length;
}

function filesOf(entry: SymbolRename): string[] {
  const at = abs(entry.in);
  const move = FILE_RENAMES.find((f) => abs(f.from) === at);
  const current = move && !existsSync(at) ? abs(move.to) : at;
  return projectFiles.filter((file) => file === current || file.startsWith(`${current}${path.sep}`));
}

/** The first declaration the entry names, as a position in its file. */
function findDeclaration(entry: SymbolRename): { file: string; position: number } | undefined {
  const program = service.getProgram();
  if (!program) throw new Error('No program');
  const checker = program.getTypeChecker();
  for (const file of filesOf(entry)) {
    const source = program.getSourceFile(file);
    if (!source) continue;
    let found: number | undefined;
    const visit = (node: ts.Node): void => {
      if (found !== undefined) return;
      if (
        ts.isIdentifier(node) &&
        node.text === entry.name &&
        node.parent &&
        (DECLARATIONS.has(node.parent.kind) ||
          (entry.assignments && node.parent.kind === ts.SyntaxKind.PropertyAssignment)) &&
        (node.parent as { name?: ts.Node }).name === node &&
        (!entry.within || isSubsequence(entry.within, enclosingNames(node))) &&
        (!entry.type || entry.type.includes(checker.typeToString(checker.getTypeAtLocation(node))))
      ) {
        found = node.getStart();
        return;
      }
      ts.forEachChild(node, visit);
    };
    visit(source);
    if (found !== undefined) return { file, position: found };
  }
  return undefined;
}

function identifierAt(source: ts.SourceFile, position: number): ts.Identifier | undefined {
  let found: ts.Identifier | undefined;
  const visit = (node: ts.Node): void => {
    if (found || position < node.getFullStart() || position >= node.getEnd()) return;
    if (ts.isIdentifier(node) && node.getStart() === position) found = node;
    else ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

/** Where `to` already means something a renamed place would then mean instead, if anywhere. */
function collision(locations: readonly ts.RenameLocation[], to: string): string | undefined {
  const program = service.getProgram()!;
  const checker = program.getTypeChecker();
  for (const location of locations) {
    const source = program.getSourceFile(location.fileName);
    const node = source && identifierAt(source, location.textSpan.start);
    if (!source || !node) continue;
    const parent = node.parent;
    let taken = false;
    if (ts.isPropertyAccessExpression(parent) && parent.name === node) {
      taken = !!checker.getTypeAtLocation(parent.expression).getProperty(to);
    } else if (
      (ts.isPropertyDeclaration(parent) ||
        ts.isPropertySignature(parent) ||
        ts.isMethodDeclaration(parent) ||
        ts.isMethodSignature(parent) ||
        ts.isGetAccessor(parent) ||
        (ts.isParameter(parent) && ts.isConstructorDeclaration(parent.parent) && parent.modifiers?.length)) &&
      parent.name === node
    ) {
      const owner = ts.isParameter(parent) ? parent.parent.parent : parent.parent;
      const ownerName = (owner as unknown as { name?: ts.Node }).name;
      const symbol = ownerName ? checker.getSymbolAtLocation(ownerName) : undefined;
      taken = !!symbol && !!checker.getDeclaredTypeOfSymbol(symbol).getProperty(to);
    } else if (ts.isPropertyAssignment(parent) && parent.name === node) {
      taken = false;
    } else {
      const flags = ts.SymbolFlags.Value | ts.SymbolFlags.Type | ts.SymbolFlags.Alias;
      taken = checker.getSymbolsInScope(node, flags).some((symbol) => symbol.name === to);
    }
    if (taken) {
      const { line } = source.getLineAndCharacterOfPosition(location.textSpan.start);
      return `${rel(path.resolve(location.fileName))}:${line + 1}`;
    }
  }
  return undefined;
}

for (const entry of SYMBOL_RENAMES) {
  const label = `${entry.in}: ${entry.within ? `${entry.within.join('.')}.` : ''}${entry.name}${entry.type ? ` (${entry.type.join(' | ')})` : ''} -> ${entry.to}`;
  let renamed = 0;
  let places = 0;
  for (let declaration = findDeclaration(entry); declaration; declaration = findDeclaration(entry)) {
    const locations = service.findRenameLocations(declaration.file, declaration.position, false, false, {
      providePrefixAndSuffixTextForRename: true,
    });
    if (!locations?.length) throw new Error(`Cannot rename ${label}`);
    const clash = collision(locations, entry.to);
    if (clash) {
      log(`skipped ${label} (${entry.to} is taken at ${clash})`);
      break;
    }
    const byFile = new Map<string, Array<{ start: number; end: number; text: string }>>();
    for (const location of locations) {
      const file = path.resolve(location.fileName);
      if (!texts.has(file)) throw new Error(`${label}: ${location.fileName} is outside the project`);
      const edits = byFile.get(file) ?? [];
      const text = `${location.prefixText ?? ''}${entry.to}${location.suffixText ?? ''}`;
      edits.push({ start: location.textSpan.start, end: location.textSpan.start + location.textSpan.length, text });
      byFile.set(file, edits);
    }
    for (const [file, edits] of byFile) {
      const known = texts.get(file)!;
      texts.set(file, { text: applyEdits(known.text, edits), version: known.version + 1 });
      touched.add(file);
    }
    renamed++;
    places += locations.length;
    if (renamed > 50) throw new Error(`${label}: the renames do not converge`);
  }
  log(
    renamed
      ? `renamed ${label} (${renamed} declaration(s), ${places} place(s))`
      : `skipped ${label} (not found: renamed already, or gone)`,
  );
}

/** `{ name: name }`, which a property renamed at a shorthand `{ old }` leaves, back to `{ name }`. */
function shorthands(file: string, text: string): string {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const edits: Array<{ start: number; end: number; text: string }> = [];
  const visit = (node: ts.Node): void => {
    if (
      ts.isPropertyAssignment(node) &&
      ts.isIdentifier(node.name) &&
      ts.isIdentifier(node.initializer) &&
      node.name.text === node.initializer.text
    ) {
      edits.push({ start: node.getStart(), end: node.getEnd(), text: node.name.text });
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return applyEdits(text, edits);
}

for (const [file, { text, version }] of texts) if (version > 0) writeFileSync(file, shorthands(file, text));

citeRenamedNames();

// 3. Formatting and import order of what changed, as the lint wants it.
const formatted = [...touched].filter((file) => /\.(ts|json)$/.test(file) && existsSync(file)).map(rel);
if (formatted.length) {
  try {
    execFileSync('npx', ['biome', 'check', '--write', ...formatted], { cwd: root, stdio: 'inherit' });
  } catch {
    log('biome check --write reported problems: see above');
    process.exitCode = 1;
  }
}
log(`done: ${touched.size} file(s) changed`);
