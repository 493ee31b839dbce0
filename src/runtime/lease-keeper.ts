/**
 * The `@uniqueSession` seats that live subscriptions hold on this instance (docs/contract.md §12,
 * "Release, fail-closed, seats"): renewed together, one statement per tick while any is held,
 * never taken again. A seat found gone (revoked, released, taken by an eviction, lapsed) ends its
 * subscription through `lost`; an outage of the store ends nothing here (failing closed on a stale
 * store is the socket guard's job).
 */
import type { LeaseKey } from '../store/lease-table.js';

/** How often seats are renewed and checked: a lost seat ends its subscription within about this. */
export const LEASE_CHECK_INTERVAL_MS = 500;

export interface LeaseRenewal {
  /** Renews the seats still held and returns them (rejects if the store does not answer). */
  renew(leases: readonly LeaseKey[]): Promise<LeaseKey[]>;
}

interface Holding {
  leases: readonly LeaseKey[];
  lost: (lease: LeaseKey) => void;
}

const keyOf = (lease: LeaseKey) => `${lease.field}\u0000${lease.scopeKey}\u0000${lease.sessionId}`;

export class LeaseKeeper {
  private readonly holdings = new Set<Holding>();
  private timer: NodeJS.Timeout | undefined;
  private renewing: Promise<void> | undefined;

  constructor(
    private readonly leases: LeaseRenewal,
    private readonly intervalMs: number,
  ) {}

  /**
   * Keeps `seats` (already taken) while a subscription lives; `lost` is told once, of the first
   * seat found gone, and the seats are then no longer kept. Returns what stops keeping them: it
   * gives back the seats that no other live subscription of the same session holds, which are the
   * ones the caller may release.
   */
  hold(leases: readonly LeaseKey[], lost: (lease: LeaseKey) => void): () => LeaseKey[] {
    const holding: Holding = { leases, lost };
    this.holdings.add(holding);
    this.start();
    return () => {
      this.holdings.delete(holding);
      if (!this.holdings.size) this.stop();
      const stillHeld = new Set<string>();
      for (const other of this.holdings) for (const lease of other.leases) stillHeld.add(keyOf(lease));
      return leases.filter((lease) => !stillHeld.has(keyOf(lease)));
    };
  }

  /** Subscriptions whose seats are kept here. */
  get size(): number {
    return this.holdings.size;
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One renewal now (the timer's tick); resolves when it is done. */
  check(): Promise<void> {
    this.renewing ??= this.renewAll().finally(() => {
      this.renewing = undefined;
    });
    return this.renewing;
  }

  private start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.check(), this.intervalMs);
    this.timer.unref();
  }

  private async renewAll(): Promise<void> {
    const holdings = [...this.holdings];
    const unique = new Map<string, LeaseKey>();
    for (const holding of holdings) for (const lease of holding.leases) unique.set(keyOf(lease), lease);
    if (!unique.size) return;
    let held: LeaseKey[];
    try {
      held = await this.leases.renew([...unique.values()]);
    } catch {
      // The store did not answer: nothing is known to be lost (the error is logged by the runtime).
      return;
    }
    const alive = new Set(held.map(keyOf));
    for (const holding of holdings) {
      // Ended while the statement ran: its seats were given up on purpose.
      if (!this.holdings.has(holding)) continue;
      const gone = holding.leases.find((lease) => !alive.has(keyOf(lease)));
      if (!gone) continue;
      this.holdings.delete(holding);
      holding.lost(gone);
    }
    if (!this.holdings.size) this.stop();
  }
}
