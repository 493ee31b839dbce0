import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { DatabaseOption } from '../../src/options.js';

/**
 * Tests run on the embedded database unless TEST_DATABASE_URL names a PostgreSQL server; then
 * each test file creates a database of its own (and drops it), so files run in parallel and
 * runs never see each other's rows.
 */
export const POSTGRES_URL = process.env.TEST_DATABASE_URL;
export const onPostgres = Boolean(POSTGRES_URL);
export const databaseKind = onPostgres ? 'postgresql' : 'embedded';

export interface TestDatabase {
  /** Pass as `database`: a URL on PostgreSQL; on the embedded database, a fresh in-memory one per call. */
  option(): DatabaseOption;
  /** A URL on PostgreSQL, undefined on the embedded database. */
  url: string | undefined;
  drop(): Promise<void>;
}

function withDatabase(url: string, name: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${name}`;
  return parsed.toString();
}

export async function createTestDatabase(): Promise<TestDatabase> {
  if (!POSTGRES_URL) {
    return { option: () => ({ embedded: {} }), url: undefined, drop: async () => {} };
  }
  const name = `gsc_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: POSTGRES_URL });
  await admin.connect();
  try {
    await admin.query(`create database ${name}`);
  } finally {
    await admin.end();
  }
  const url = withDatabase(POSTGRES_URL, name);
  return {
    option: () => url,
    url,
    drop: async () => {
      const client = new pg.Client({ connectionString: POSTGRES_URL });
      await client.connect();
      try {
        await client.query(`drop database if exists ${name} with (force)`);
      } finally {
        await client.end();
      }
    },
  };
}
