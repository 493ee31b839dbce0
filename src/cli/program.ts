/**
 * The operator's command line (docs/contract.md §9, "CLI"): its commands, flags, output and exit
 * codes. It sees the library through `Operations` only (runtime/contracts.ts), which the entry
 * point (`main.ts`) builds on a controller; revocations made here go through the same runtime as
 * the API's, so running servers learn of them like any other (the change feed).
 *
 * Exit codes: 0 success; 1 the target was not found (or the store failed); 2 a usage error,
 * printed with the command's help.
 */
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { type UserSessionView, userSessionView } from '../api/views.js';
import { withoutPasswords } from '../connection-string.js';
import { OPTION_DEFAULTS } from '../option-defaults.js';
import type { Operations } from '../runtime/contracts.js';
import type { PruneProgress } from '../runtime/pruner.js';
import {
  type LimitSubjectValue,
  MAX_NOTE_LENGTH,
  MAX_USER_ID_LENGTH,
  SESSION_STATUSES,
  type SessionStatusValue,
  UUID_PATTERN,
} from '../vocabulary.js';
import { count, json, type Output, rulesTable, sessionJson, sessionsTable } from './output.js';
import { printable } from './printable.js';

const EXIT_OK = 0;
const EXIT_NOT_FOUND = 1;
const EXIT_USAGE = 2;

/** What the command line needs from its surroundings. */
export interface CliEnvironment {
  /**
   * Opens the session store at `databaseUrl` (the entry point builds a controller); listings read
   * from `readReplicas` when given (`--read-replica`, or `GSC_READ_REPLICAS`).
   */
  connect(databaseUrl: string, settings?: { readReplicas?: string[] }): Promise<Operations>;
  output: Output;
  /** `DATABASE_URL` is read from here when `--database` is not given. */
  env: Readonly<Record<string, string | undefined>>;
  version: string;
}

/**
 * The servers' timing options that the entry point (main.ts) reads from the environment, so that
 * statuses and pruning agree with the servers'; unset, the library's defaults apply.
 */
const TIMING_VARIABLES = {
  GSC_IDLE_TIMEOUT: 'idleTimeout',
  GSC_ABSOLUTE_TIMEOUT: 'absoluteTimeout',
  GSC_RETENTION: 'retention',
  GSC_TOMBSTONE_TTL: 'tombstoneTtl',
} as const satisfies Record<string, keyof typeof OPTION_DEFAULTS>;

/** `GSC_IDLE_TIMEOUT (default 30m), ...`: each variable with its option's default, `never` for none. */
function timingVariablesHelp(): string {
  const described = Object.entries(TIMING_VARIABLES).map(
    ([variable, option]) => `${variable} (default ${OPTION_DEFAULTS[option] ?? 'never'})`,
  );
  return `${described.slice(0, -1).join(', ')} and ${described.at(-1)}`;
}

/** `sessions list` reads pages of this size until `--limit` is reached. */
const PAGE = 100;
const DEFAULT_LIST_LIMIT = 50;
const MAX_LIST_LIMIT = 10_000;
/** Without a terminal, progress is one line per this interval at most (each batch on a terminal). */
const PROGRESS_EVERY_MS = 1_000;

/** A failure the command reports itself: its message on stderr, and its exit code. */
class CliFailure extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

const notFound = (message: string) => new CliFailure(message, EXIT_NOT_FOUND);

/** Runs one command line (without `node` and the script); resolves with the exit code. */
export async function runCli(argv: readonly string[], environment: CliEnvironment): Promise<number> {
  const { output } = environment;
  const program = buildProgram(environment);
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return EXIT_OK;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
    if (error instanceof CliFailure) {
      output.err(`${printable(error.message)}\n`);
      return error.exitCode;
    }
    output.err(`graphql-session-controller: ${printable(describe(error))}\n`);
    return EXIT_NOT_FOUND;
  }
}

function buildProgram(environment: CliEnvironment): Command {
  const { output } = environment;
  const program = new Command('graphql-session-controller')
    .description('See and end sessions, manage limits and prune, on the store of graphql-session-controller.')
    .version(environment.version)
    .addOption(new Option('--database <url>', 'PostgreSQL connection string (default: $DATABASE_URL)'))
    .addOption(
      new Option(
        '--read-replica <url>',
        'a hot standby for sessions list, stats and limits list; repeat for several (default: $GSC_READ_REPLICAS, comma-separated)',
      ).argParser((url: string, previous: string[] = []) => [...previous, url]),
    )
    // Settings that subcommands inherit: errors throw (exit codes are ours), help goes to our output.
    .exitOverride()
    .configureOutput({ writeOut: (text) => output.out(text), writeErr: (text) => output.err(text) })
    .showHelpAfterError()
    .addHelpText(
      'after',
      '\nExit codes: 0 success, 1 target not found (or the store failed), 2 usage error.\n' +
        `Status and retention follow the servers' options; give them the same: ${timingVariablesHelp()}.`,
    );

  /** Runs `work` on the store, and always closes it. */
  const withStore = async <T>(command: Command, work: (ops: Operations) => Promise<T>): Promise<T> => {
    const { database, readReplica } = command.optsWithGlobals<{ database?: string; readReplica?: string[] }>();
    const url = database || environment.env.DATABASE_URL || '';
    if (!url) command.error('error: no database: pass --database <url> or set DATABASE_URL', { exitCode: EXIT_USAGE });
    const fromEnv = (environment.env.GSC_READ_REPLICAS ?? '')
      .split(',')
      .map((r) => r.trim())
      .filter(Boolean);
    const readReplicas = readReplica ?? (fromEnv.length ? fromEnv : undefined);
    let ops: Operations;
    // No message names the password, in whatever form the connection string carried it.
    const safe = (error: unknown) => withoutPasswords(describe(error), url);
    try {
      ops = await environment.connect(url, readReplicas ? { readReplicas } : undefined);
    } catch (error) {
      throw new CliFailure(`graphql-session-controller: cannot open the database: ${safe(error)}`, EXIT_NOT_FOUND);
    }
    try {
      return await work(ops);
    } catch (error) {
      if (error instanceof CliFailure) throw error;
      throw new CliFailure(`graphql-session-controller: ${safe(error)}`, EXIT_NOT_FOUND);
    } finally {
      await ops.close().catch(() => {});
    }
  };

  program
    .command('migrate')
    .description('Apply pending migrations (creates the tables on a new database).')
    .action(async (_options, command: Command) => {
      const applied = await withStore(command, (ops) => ops.migrate());
      output.out(
        applied.length ? `Applied: ${applied.join(', ')}\n` : 'Nothing to apply: the database is up to date.\n',
      );
    });

  const sessions = program.command('sessions').description('List and revoke sessions.');
  sessions
    .command('list')
    .description('List sessions, newest first.')
    .addOption(new Option('--user <id>', "only this user's sessions").argParser(userIdArgument))
    .addOption(
      new Option('--status <status>', 'ACTIVE, REVOKED, EXPIRED or ALL').argParser(statusArgument).default('ACTIVE'),
    )
    .addOption(
      new Option('--limit <n>', `at most this many sessions (1..${MAX_LIST_LIMIT})`)
        .argParser(limitArgument)
        .default(DEFAULT_LIST_LIMIT),
    )
    .option('--json', 'print JSON (an array of sessions, as the GraphQL UserSession)')
    .action(async (options: { user?: string; status: string; limit: number; json?: boolean }, command: Command) => {
      const { views, more } = await withStore(command, (ops) => listSessions(ops, options));
      if (options.json) {
        output.out(`${json(views.map(sessionJson))}\n`);
        return;
      }
      if (!views.length) {
        output.out('No sessions.\n');
        return;
      }
      output.out(`${sessionsTable(views)}\n`);
      if (more) output.out(`(first ${count(views.length)} shown; more with --limit)\n`);
    });

  sessions
    .command('revoke')
    .description('Revoke one session (reason ADMIN_REVOKED); running servers refuse it at once.')
    .argument('<id>', 'the session id (a UUID)', sessionIdArgument)
    .addOption(
      new Option('--reason <text>', `a note kept with it (at most ${MAX_NOTE_LENGTH} characters)`).argParser(
        noteArgument,
      ),
    )
    .action(async (id: string, options: { reason?: string }, command: Command) => {
      const session = await withStore(command, async (ops) => {
        const before = await ops.directory.find(id);
        if (!before) throw notFound(`No session ${id}.`);
        const after = await ops.sessions.revoke(id, 'ADMIN_REVOKED', options.reason ?? null);
        return { before, after };
      });
      if (session.before.revokedAt) {
        output.out(
          `Session ${id} of ${printable(session.before.userId)} was already revoked (${session.before.revokedReason}).\n`,
        );
      } else {
        output.out(`Revoked session ${id} of ${printable(session.before.userId)}.\n`);
      }
    });

  sessions
    .command('revoke-user')
    .description('Revoke every live session of one or more users (reason ADMIN_REVOKED), all users in one transaction.')
    .argument('<users...>', 'user ids', (value: string, previous: string[] = []) => [
      ...previous,
      userIdArgument(value),
    ])
    .addOption(
      new Option('--reason <text>', `a note kept with them (at most ${MAX_NOTE_LENGTH} characters)`).argParser(
        noteArgument,
      ),
    )
    .action(async (users: string[], options: { reason?: string }, command: Command) => {
      const unique = [...new Set(users)];
      const revoked = await withStore(command, async (ops) => {
        // A user id with no session at all is most likely a typo: nothing is revoked then.
        const unknown: string[] = [];
        for (const user of unique) if (!(await ops.directory.hasUser(user))) unknown.push(user);
        if (unknown.length) throw notFound(unknown.map((user) => `No sessions of user ${user}.`).join('\n'));
        return ops.sessions.revokeUsers(unique, 'ADMIN_REVOKED', options.reason ?? null);
      });
      for (const user of unique) {
        const ended = revoked.filter((session) => session.userId === user).length;
        output.out(
          ended
            ? `Revoked ${count(ended)} session${ended === 1 ? '' : 's'} of ${printable(user)}.\n`
            : `${printable(user)} has no live session: nothing to revoke.\n`,
        );
      }
    });

  program
    .command('stats')
    .description('Count sessions by status.')
    .option('--json', 'print JSON')
    .action(async (options: { json?: boolean }, command: Command) => {
      const counts = await withStore(command, (ops) => ops.directory.statusCounts());
      const stats = {
        activeSessions: counts.active,
        activeUsers: counts.activeUsers,
        revokedSessions: counts.revoked,
        expiredSessions: counts.expired,
      };
      if (options.json) {
        output.out(`${json(stats)}\n`);
        return;
      }
      output.out(
        `${[
          ['active sessions', stats.activeSessions],
          ['active users', stats.activeUsers],
          ['revoked sessions', stats.revokedSessions],
          ['expired sessions', stats.expiredSessions],
        ]
          .map(([label, n]) => `${String(label).padEnd(18)}${count(Number(n))}`)
          .join('\n')}\n`,
      );
    });

  const limits = program.command('limits').description('Stored per-user and per-group session limits.');
  limits
    .command('list')
    .description('List the stored limit rules.')
    .option('--json', 'print JSON')
    .action(async (options: { json?: boolean }, command: Command) => {
      const rules = await withStore(command, (ops) => ops.rules.list());
      if (options.json) output.out(`${json(rules)}\n`);
      else output.out(rules.length ? `${rulesTable(rules)}\n` : 'No limit rules.\n');
    });

  limits
    .command('set')
    .description('Create or replace a rule; it applies from the next admission, on every server.')
    .argument('<type>', 'user or group', subjectTypeArgument)
    .argument('<subject>', 'the user id or group name', userIdArgument)
    .argument('<max>', 'sessions allowed (a whole number >= 0), or unlimited', maxArgument)
    .action(
      async (
        subjectType: LimitSubjectValue,
        subject: string,
        maxSessions: number | null,
        _options,
        command: Command,
      ) => {
        const rule = await withStore(command, (ops) => ops.rules.set({ subjectType, subject, maxSessions }));
        const max =
          rule.maxSessions === null ? 'unlimited' : `${rule.maxSessions} session${rule.maxSessions === 1 ? '' : 's'}`;
        output.out(`${rule.subjectType} ${printable(rule.subject)}: ${max}.\n`);
      },
    );

  limits
    .command('remove')
    .description('Remove a rule.')
    .argument('<type>', 'user or group', subjectTypeArgument)
    .argument('<subject>', 'the user id or group name', userIdArgument)
    .action(async (subjectType: LimitSubjectValue, subject: string, _options, command: Command) => {
      const removed = await withStore(command, (ops) => ops.rules.remove(subjectType, subject));
      if (!removed) throw notFound(`No rule for ${subjectType} ${subject}.`);
      output.out(`Removed the rule for ${subjectType} ${printable(subject)}.\n`);
    });

  program
    .command('prune')
    .description('Delete sessions revoked or expired longer ago than the retention, and dead leases.')
    .option('--dry-run', 'count what would be deleted, delete nothing')
    .action(async (options: { dryRun?: boolean }, command: Command) => {
      if (options.dryRun) {
        const would = await withStore(command, (ops) => ops.prunable());
        output.out(`Would delete ${count(would.sessions)} sessions and ${count(would.leases)} leases.\n`);
        return;
      }
      const progress = progressReporter(output);
      const done = await withStore(command, (ops) => ops.prune(progress.batch));
      progress.end();
      output.out(
        done.ran
          ? `Deleted ${count(done.sessions)} sessions and ${count(done.leases)} leases.\n`
          : 'Another instance is pruning now: nothing deleted.\n',
      );
    });

  return program;
}

async function listSessions(
  ops: Operations,
  options: { user?: string; status: string; limit: number },
): Promise<{ views: UserSessionView[]; more: boolean }> {
  const statuses = options.status === 'ALL' ? null : [options.status as SessionStatusValue];
  const views: UserSessionView[] = [];
  let after = null;
  for (;;) {
    const first = Math.min(PAGE, options.limit - views.length);
    const page = await ops.directory.list({ userId: options.user ?? null, statuses, ipAddress: null, first, after });
    for (const { session, status } of page.sessions) {
      views.push(userSessionView(session, false, ops.sessions.timeouts, ops.sessions.dbNow(), status));
    }
    if (!page.hasNextPage) return { views, more: false };
    if (views.length >= options.limit) return { views, more: true };
    after = page.sessions[page.sessions.length - 1].position;
  }
}

/**
 * Pruning's progress on stderr, once a pass needs more than one batch (a short pass prints only
 * its result): on a terminal one line rewritten after every batch; otherwise (a log, a pipe) a
 * line at the first batch and at most one a second after, so a long run shows it is moving
 * without flooding.
 */
function progressReporter(output: Output): { batch(progress: PruneProgress): void; end(): void } {
  let last = Number.NEGATIVE_INFINITY;
  let wrote = false;
  return {
    batch({ sessions, leases, more }) {
      if (!more) return;
      const now = Date.now();
      const line = `pruning: ${count(sessions)} sessions and ${count(leases)} leases deleted so far`;
      if (output.errIsTTY) {
        output.err(`\r${line}`);
        wrote = true;
      } else if (now - last >= PROGRESS_EVERY_MS) {
        output.err(`${line}\n`);
        last = now;
      }
    },
    end() {
      if (wrote) output.err('\n');
    },
  };
}

// Argument checks: a bad value is a usage error (exit 2, with help), found before the store is opened.

function userIdArgument(value: string): string {
  if (value.length === 0 || value.length > MAX_USER_ID_LENGTH || value.includes('\u0000')) {
    throw new InvalidArgumentError(`expected 1..${MAX_USER_ID_LENGTH} characters.`);
  }
  return value;
}

function sessionIdArgument(value: string): string {
  if (!UUID_PATTERN.test(value)) throw new InvalidArgumentError('expected a session id (a UUID).');
  return value.toLowerCase();
}

function noteArgument(value: string): string {
  if (value.length > MAX_NOTE_LENGTH || value.includes('\u0000')) {
    throw new InvalidArgumentError(`expected at most ${MAX_NOTE_LENGTH} characters.`);
  }
  return value;
}

function statusArgument(value: string): string {
  const status = value.toUpperCase();
  if (status !== 'ALL' && !SESSION_STATUSES.includes(status as SessionStatusValue)) {
    throw new InvalidArgumentError(`expected one of ${[...SESSION_STATUSES, 'ALL'].join(', ')}.`);
  }
  return status;
}

function limitArgument(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1 || n > MAX_LIST_LIMIT) {
    throw new InvalidArgumentError(`expected a whole number from 1 to ${MAX_LIST_LIMIT}.`);
  }
  return n;
}

function subjectTypeArgument(value: string): LimitSubjectValue {
  const type = value.toUpperCase();
  if (type !== 'USER' && type !== 'GROUP') throw new InvalidArgumentError('expected user or group.');
  return type;
}

function maxArgument(value: string): number | null {
  if (value.toLowerCase() === 'unlimited') return null;
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(Number(value)) || Number(value) > 2_147_483_647) {
    throw new InvalidArgumentError('expected a whole number >= 0, or unlimited.');
  }
  return Number(value);
}

/** An error as one line, without a stack; the store's errors never carry a key (statements bind values). */
function describe(error: unknown): string {
  const err = error as { message?: string; code?: string; cause?: unknown };
  if (err?.code === '42P01')
    return 'the database has no session tables yet: run `graphql-session-controller migrate` first.';
  if (err?.code === 'SESSION_STORE_UNAVAILABLE' || /session store is unavailable/.test(err?.message ?? '')) {
    return `the session store is unavailable${err.cause ? `: ${describe(err.cause)}` : '.'}`;
  }
  return err?.message ?? String(error);
}
