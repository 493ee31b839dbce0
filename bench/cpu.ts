import { readdirSync, readFileSync } from 'node:fs';

/** Clock ticks per second of /proc's utime/stime (Linux: 100 on every common configuration). */
const TICKS_PER_SECOND = 100;

function ticksOf(pid: number): { comm: string; ticks: number } | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const close = stat.lastIndexOf(')');
    const comm = stat.slice(stat.indexOf('(') + 1, close);
    const fields = stat.slice(close + 2).split(' ');
    // Fields after the command: state is [0]; utime [11], stime [12] (man 5 proc, 14 and 15).
    return { comm, ticks: Number(fields[11]) + Number(fields[12]) };
  } catch {
    return null;
  }
}

export interface CpuSnapshot {
  at: number;
  byPid: Map<number, number>;
  postgres: Map<number, number>;
}

/** CPU time of the given processes and of every `postgres` process (Linux /proc; empty elsewhere). */
export function cpuSnapshot(pids: number[]): CpuSnapshot {
  const byPid = new Map<number, number>();
  for (const pid of pids) {
    const t = ticksOf(pid);
    if (t) byPid.set(pid, t.ticks);
  }
  const postgres = new Map<number, number>();
  let entries: string[] = [];
  try {
    entries = readdirSync('/proc');
  } catch {
    /* not Linux */
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const t = ticksOf(Number(entry));
    if (t?.comm.startsWith('postgres')) postgres.set(Number(entry), t.ticks);
  }
  return { at: performance.now(), byPid, postgres };
}

/** Percent of one core each process used between two snapshots; `postgres` sums all its processes (ended ones excepted). */
export function cpuUsage(before: CpuSnapshot, after: CpuSnapshot): { byPid: Map<number, number>; postgres: number } {
  const seconds = Math.max((after.at - before.at) / 1000, 1e-9);
  const pct = (ticks: number) => (100 * ticks) / TICKS_PER_SECOND / seconds;
  const byPid = new Map<number, number>();
  for (const [pid, ticks] of after.byPid) byPid.set(pid, pct(ticks - (before.byPid.get(pid) ?? ticks)));
  let postgres = 0;
  for (const [pid, ticks] of after.postgres) postgres += ticks - (before.postgres.get(pid) ?? 0);
  return { byPid, postgres: pct(postgres) };
}
