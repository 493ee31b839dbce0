/**
 * The database's clock as this instance estimates it: expiry and revocation times are the
 * database's, so instances whose own clocks drift still agree. The change feed measures it.
 */
export class DbClock {
  /** Database clock minus local clock, as last measured. */
  private offsetMs = 0;

  /** Milliseconds on the database clock, estimated locally from the last measured offset. */
  now(): number {
    return Date.now() + this.offsetMs;
  }

  /** A reading of the database clock, taken between two local times (a poll's round trip). */
  measured(dbNow: Date, localBefore: number, localAfter: number): void {
    this.offsetMs = dbNow.getTime() - (localBefore + localAfter) / 2;
  }
}
