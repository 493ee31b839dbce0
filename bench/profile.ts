import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The parts of a V8 `.cpuprofile` (written by `node --cpu-prof`) this summary reads. */
interface CpuProfile {
  nodes: Array<{
    id: number;
    callFrame: { functionName: string; url: string; lineNumber: number };
    children?: number[];
  }>;
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

/** Which part of the profile to read: the load, not the start-up (module loading, migrations). */
export interface ProfileWindow {
  /** Length of the window, in ms. */
  lengthMs: number;
  /** How long before the end of the profile the window ends (the time the process took to stop). */
  endsBeforeExitMs: number;
}

export interface ProfileSummary {
  file: string;
  seconds: number;
  /** Percent of busy (non-idle) CPU time. */
  libraryInclusivePct: number;
  byArea: Array<{ area: string; selfPct: number }>;
  topSelf: Array<{ fn: string; where: string; selfPct: number }>;
  headline: string;
  text: string;
}

function area(url: string, fn: string): string {
  if (!url) return fn.startsWith('(') ? fn : '(native)';
  if (url.startsWith('node:')) return 'node internals';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1];
  if (url.includes('/src/')) return 'library (src/)';
  if (url.includes('/demo/')) return 'demo/';
  return 'other';
}

const short = (url: string) => url.replace(/^file:\/\/.*?\/(node_modules|src|demo)\//, '$1/');

/** Summarizes the first profile in `dir`: where the busy CPU time went, and how much of it ran inside the library. */
export function summarizeProfile(dir: string, window?: ProfileWindow): ProfileSummary {
  const name = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
  if (!name) throw new Error(`no .cpuprofile in ${dir}`);
  const file = join(dir, name);
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const inLibrary = new Map<number, boolean>();
  const underLibrary = (id: number): boolean => {
    const known = inLibrary.get(id);
    if (known !== undefined) return known;
    const node = byId.get(id)!;
    const up = parent.get(id);
    const result = node.callFrame.url.includes('/src/') || (up !== undefined && underLibrary(up));
    inLibrary.set(id, result);
    return result;
  };

  const self = new Map<number, number>();
  let busy = 0;
  let total = 0;
  let library = 0;
  const to = profile.endTime - (window ? window.endsBeforeExitMs * 1000 : 0);
  const from = window ? to - window.lengthMs * 1000 : -Infinity;
  let at = profile.startTime;
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] ?? 0;
    at += dt;
    if (at < from || at > to) return;
    total += dt;
    const fn = byId.get(id)!.callFrame.functionName;
    if (fn === '(idle)') return;
    busy += dt;
    self.set(id, (self.get(id) ?? 0) + dt);
    if (underLibrary(id)) library += dt;
  });
  const pct = (us: number) => Math.round((1000 * us) / Math.max(busy, 1)) / 10;

  const areas = new Map<string, number>();
  const fns = new Map<string, { fn: string; where: string; us: number }>();
  for (const [id, us] of self) {
    const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
    const a = area(url, functionName);
    areas.set(a, (areas.get(a) ?? 0) + us);
    const key = `${functionName}@${url}:${lineNumber}`;
    const entry = fns.get(key) ?? {
      fn: functionName || '(anonymous)',
      where: url ? `${short(url)}:${lineNumber + 1}` : '',
      us: 0,
    };
    entry.us += us;
    fns.set(key, entry);
  }
  const byArea = [...areas].sort((a, b) => b[1] - a[1]).map(([a, us]) => ({ area: a, selfPct: pct(us) }));
  const topSelf = [...fns.values()]
    .sort((a, b) => b.us - a.us)
    .slice(0, 15)
    .map((f) => ({ fn: f.fn, where: f.where, selfPct: pct(f.us) }));
  const libraryInclusivePct = pct(library);
  const headline =
    `${libraryInclusivePct}% of the server's busy CPU ran inside library code (src/ and what it calls); ` +
    `busy ${Math.round((100 * busy) / Math.max(total, 1))}% of ${(total / 1e6).toFixed(1)} s. Top areas (self): ` +
    byArea
      .slice(0, 6)
      .map((a) => `${a.area} ${a.selfPct}%`)
      .join(', ');
  const text = [
    `  ${headline}`,
    '  top functions by self time (% of busy CPU):',
    ...topSelf.map((f) => `    ${f.selfPct.toFixed(1).padStart(5)}%  ${f.fn}  ${f.where}`),
  ].join('\n');
  return { file, seconds: total / 1e6, libraryInclusivePct, byArea, topSelf, headline, text };
}
