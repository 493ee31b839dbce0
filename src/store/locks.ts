/**
 * The advisory locks' keys, in one place, so that no two jobs (migrations, caps, leases, pruning)
 * ever take the same lock by accident.
 */

/**
 * Advisory-lock namespaces (the first key of `pg_advisory_xact_lock(int, int)`), chosen so they
 * do not collide with locks the host application may take with a single bigint key.
 */
export const ADVISORY_NAMESPACE = {
  migrations: 0x6753_0001,
  app: 0x6753_0002,
  user: 0x6753_0003,
  lease: 0x6753_0004,
  prune: 0x6753_0005,
} as const;
