#!/usr/bin/env node
/**
 * `graphql-session-controller` (alias `gsc`): the operator's command line (docs/contract.md §9).
 * This entry point only assembles: a controller with `enabled: false` (no background work, no
 * caps) on the database given, whose `operations()` the commands use (program.ts).
 *
 * The store's timing settings are the servers' own options; give the command line the same ones
 * in the environment, or statuses and pruning follow the library's defaults:
 *   GSC_IDLE_TIMEOUT, GSC_ABSOLUTE_TIMEOUT, GSC_RETENTION, GSC_TOMBSTONE_TTL (`--help` prints
 *   their defaults, from OPTION_DEFAULTS): durations such as 30m, 12h, 30d or milliseconds;
 *   `never` for none (not for GSC_RETENTION, which is refused then: retention is never "none").
 * Listings read from the hot standbys in `--read-replica` or GSC_READ_REPLICAS (comma-separated).
 */
import { readFileSync } from 'node:fs';
import { withoutPasswords } from '../connection-string.js';
import { SessionController } from '../controller.js';
import { OPTION_DEFAULTS } from '../option-defaults.js';
import type { SessionControllerOptions } from '../options.js';
import { printable } from './printable.js';
import { runCli } from './program.js';

/** `never` (or `off`, `null`) means no timeout; empty or unset means the library's default. */
function duration(name: string): string | null | undefined {
  const value = process.env[name]?.trim();
  if (!value) return undefined;
  return ['never', 'off', 'null'].includes(value.toLowerCase()) ? null : value;
}

/** The package's version, from the package.json above this file (in src/ and in dist/ alike). */
function version(): string {
  for (let dir = new URL('.', import.meta.url); ; dir = new URL('..', dir)) {
    try {
      const pkg = JSON.parse(readFileSync(new URL('package.json', dir), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'graphql-session-controller') return pkg.version ?? '0.0.0';
    } catch {
      // not here: look one level up
    }
    if (dir.pathname === '/') return '0.0.0';
  }
}

const exitCode = await runCli(process.argv.slice(2), {
  env: process.env,
  version: version(),
  output: {
    out: (text) => process.stdout.write(text),
    err: (text) => process.stderr.write(text),
    errIsTTY: Boolean(process.stderr.isTTY),
  },
  connect: async (database, settings) => {
    const idleTimeout = duration('GSC_IDLE_TIMEOUT');
    const absoluteTimeout = duration('GSC_ABSOLUTE_TIMEOUT');
    const retention = duration('GSC_RETENTION');
    // Retention has no "never" (rows past it are what pruning deletes): said, not silently defaulted.
    if (retention === null) {
      throw new Error(
        `GSC_RETENTION cannot be "${process.env.GSC_RETENTION?.trim()}": give a duration such as 90d, or leave it unset for the default (${OPTION_DEFAULTS.retention})`,
      );
    }
    const tombstoneTtl = duration('GSC_TOMBSTONE_TTL');
    const options: SessionControllerOptions = {
      database,
      identify: () => null,
      enabled: false,
      migrate: false,
      ...(idleTimeout !== undefined ? { idleTimeout } : {}),
      ...(absoluteTimeout !== undefined ? { absoluteTimeout } : {}),
      ...(retention !== undefined ? { retention } : {}),
      ...(settings?.readReplicas ? { readReplicas: settings.readReplicas } : {}),
      ...(tombstoneTtl !== undefined ? { tombstoneTtl } : {}),
      onStoreError: ({ operation, error }) =>
        process.stderr.write(
          `graphql-session-controller: store error during ${operation}: ${printable(withoutPasswords(error.message, database))}\n`,
        ),
    };
    const controller = await SessionController.create(options);
    return controller.operations();
  },
});
process.exitCode = exitCode;
