import type { RunRecord, ScenarioResult } from './scenario.js';

export interface ScalingPoint {
  size: number;
  users: number;
  seedSeconds: number;
  counts: { active: number; expired: number; revoked: number; exempt: number };
  admission: Measurement;
  activeSessions: Measurement;
  /** Admission with an app-wide cap that is never reached: the app count is part of every admission. */
  admissionAppCap: Measurement | null;
  /** `sessions` (every status) of one user, with totalCount; absent in results from before issue 12. */
  sessions?: Measurement;
  /** `sessions` of the whole fleet by an admin, first page, without totalCount. */
  sessionsFleet?: Measurement;
}

/** What the growth table keeps of a run. */
export type Measurement = Pick<
  RunRecord,
  | 'connections'
  | 'rps'
  | 'okPerS'
  | 'p50'
  | 'p95'
  | 'p99'
  | 'responses'
  | 'graphqlErrors'
  | 'limitExceeded'
  | 'errorSample'
>;

export interface Target {
  name: string;
  goal: string;
  measured: string;
  pass: boolean;
}

export interface BenchReport {
  startedAt: string;
  finishedAt: string;
  quick: boolean;
  environment: Record<string, string | number>;
  settings: Record<string, unknown>;
  scenarios: ScenarioResult[];
  scaling: ScalingPoint[];
  targets: Target[];
  notes: string[];
  /** BENCH_PROFILE=1: where the servers' CPU time went. */
  profiles?: { hotPath: unknown; admissions: unknown };
  /** Issue 13's in-process measurements and the table sizes (bench/scale.ts). */
  scale?: {
    floor: {
      perS: Record<string, number>;
      p50: Record<string, number>;
      p95: Record<string, number>;
      dbCpuUsPerOp: Record<string, number>;
      nodeCpuUsPerOp: Record<string, number>;
    } | null;
    sizes: Array<{
      rows: number;
      heapBytes: number;
      bytesPerRow: number;
      totalBytes: number;
      indexes: Array<{ name: string; bytes: number; entries: number; bytesPerEntry: number }>;
    }>;
  };
}

/** The admission-floor medians and the table sizes, as tables. */
function scaleSections(scale: BenchReport['scale']): string[] {
  if (!scale) return [];
  const out: string[] = [];
  if (scale.floor) {
    out.push(
      '## Admissions against a bare INSERT … RETURNING (in-process, medians over alternating rounds)',
      '',
      table(
        [
          'variant',
          'per s',
          'p50 ms',
          'p95 ms',
          'database backend CPU µs/op',
          'per database core /s',
          'Node CPU µs/op',
        ],
        Object.keys(scale.floor.perS).map((name) => [
          name,
          int(scale.floor!.perS[name]),
          fmt(scale.floor!.p50[name]),
          fmt(scale.floor!.p95[name]),
          int(scale.floor!.dbCpuUsPerOp[name]),
          int(1e6 / scale.floor!.dbCpuUsPerOp[name]),
          int(scale.floor!.nodeCpuUsPerOp[name]),
        ]),
      ),
      '',
    );
  }
  if (scale.sizes.length) {
    const names = scale.sizes[0].indexes.map((i) => i.name);
    out.push(
      '## Table and index sizes (after vacuum analyze)',
      '',
      table(
        ['rows', 'heap MB', 'B/row', ...names.map((n) => `${n.replace('gsc_session_', '')} B/entry`), 'total MB'],
        scale.sizes.map((z) => [
          int(z.rows),
          fmt(z.heapBytes / 1e6, 1),
          fmt(z.bytesPerRow, 1),
          ...names.map((n) => fmt(z.indexes.find((i) => i.name === n)?.bytesPerEntry, 1)),
          fmt(z.totalBytes / 1e6, 1),
        ]),
      ),
      '',
    );
  }
  return out;
}

const fmt = (v: number | null | undefined, digits = 2) =>
  v === null || v === undefined || !Number.isFinite(v) ? '–' : v.toFixed(digits);
const int = (v: number | null | undefined) =>
  v === null || v === undefined || !Number.isFinite(v) ? '–' : Math.round(v).toLocaleString('en-US');
const signed = (v: number | null | undefined, digits = 2) =>
  v === null || v === undefined || !Number.isFinite(v) ? '–' : `${v >= 0 ? '+' : ''}${v.toFixed(digits)}`;

function table(header: string[], rows: string[][]): string {
  const lines = [`| ${header.join(' | ')} |`, `| ${header.map((_, i) => (i === 0 ? '---' : '---:')).join(' | ')} |`];
  for (const row of rows) lines.push(`| ${row.join(' | ')} |`);
  return lines.join('\n');
}

export function scenarioTable(scenarios: ScenarioResult[]): string {
  const rows: string[][] = [];
  for (const s of scenarios) {
    for (const v of s.variants) {
      const acct = s.accounting.find((a) => a.variant === v.label);
      rows.push([
        `${s.name} (c=${s.connections})`,
        v.label,
        int(v.rps),
        s.name.startsWith('admissions') ? int(v.okPerS) : '',
        fmt(v.p50),
        fmt(v.p99),
        v.ratioToOff === null ? '' : fmt(v.ratioToOff, 3),
        v.p99AddedMs === null ? '' : signed(v.p99AddedMs),
        int(v.serverCpuUsPerRequest),
        v.cpuRatioToOff === null ? '' : fmt(v.cpuRatioToOff, 3),
        acct ? fmt(acct.perRequest, 4) : '',
        acct && v.label !== 'off' && acct.netPerRequest !== null ? fmt(acct.netPerRequest, 4) : '',
        v.graphqlErrors || v.non2xx || v.transportErrors ? `${v.graphqlErrors}/${v.non2xx}/${v.transportErrors}` : '0',
      ]);
    }
  }
  return table(
    [
      'scenario',
      'variant',
      'req/s',
      'admitted/s',
      'p50 ms',
      'p99 ms',
      'on/off req/s',
      'p99 added ms',
      'server CPU µs/req',
      'on/off by CPU',
      'xact/req',
      'xact/req net',
      'errors gql/non2xx/net',
    ],
    rows,
  );
}

export function scalingTable(points: ScalingPoint[]): string {
  return table(
    [
      'stored sessions',
      'users',
      'active / expired / revoked',
      'admission p50 ms',
      'admission p95 ms',
      'admissions/s',
      'activeSessions p50 ms',
      'activeSessions p95 ms',
      'admission + app cap p50 ms',
      'admission + app cap p95 ms',
      'sessions (user) p95 ms',
      'sessions (fleet) p95 ms',
    ],
    points.map((p) => [
      int(p.size),
      int(p.users),
      `${int(p.counts.active)} / ${int(p.counts.expired)} / ${int(p.counts.revoked)}`,
      fmt(p.admission.p50),
      fmt(p.admission.p95),
      int(p.admission.okPerS),
      fmt(p.activeSessions.p50),
      fmt(p.activeSessions.p95),
      fmt(p.admissionAppCap?.p50),
      fmt(p.admissionAppCap?.p95),
      fmt(p.sessions?.p95),
      fmt(p.sessionsFleet?.p95),
    ]),
  );
}

export function targetsTable(targets: Target[]): string {
  return table(
    ['target', 'goal', 'measured', 'result'],
    targets.map((t) => [t.name, t.goal, t.measured, t.pass ? 'PASS' : 'FAIL']),
  );
}

export function markdown(report: BenchReport): string {
  const env = Object.entries(report.environment)
    .map(([k, v]) => `${k}: ${v}`)
    .join('; ');
  return [
    `# npm run bench — ${report.quick ? 'QUICK smoke run (not representative)' : 'results'}`,
    '',
    `Run ${report.startedAt} → ${report.finishedAt}. ${env}.`,
    '',
    '## Targets',
    '',
    targetsTable(report.targets),
    '',
    '## Scenarios (medians over alternating rounds)',
    '',
    scenarioTable(report.scenarios),
    '',
    '## Growth with stored sessions',
    '',
    scalingTable(report.scaling),
    '',
    ...scaleSections(report.scale),
    ...(report.notes.length ? ['## Notes', '', ...report.notes.map((n) => `- ${n}`), ''] : []),
  ].join('\n');
}

/** A plain-text rendering of the same tables for the terminal. */
export function terminal(report: BenchReport): string {
  return markdown(report);
}

export { fmt, int, signed };
