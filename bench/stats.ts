/** Small, exact statistics over the raw samples the benchmark keeps (no histogram rounding). */

/** The q-quantile (0..1) of a sample, by the nearest-rank method; NaN when empty. */
export function quantile(sorted: ArrayLike<number>, q: number): number {
  if (!sorted.length) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank];
}

export function median(values: readonly number[]): number {
  const finite = values.filter((v) => Number.isFinite(v));
  if (!finite.length) return Number.NaN;
  return quantile(
    [...finite].sort((a, b) => a - b),
    0.5,
  );
}

export function mean(values: ArrayLike<number>): number {
  if (!values.length) return Number.NaN;
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += values[i];
  return sum / values.length;
}

export interface LatencySummary {
  p50: number;
  p95: number;
  p99: number;
  mean: number;
  max: number;
  count: number;
}

/** Summarizes latencies in milliseconds; sorts a copy. */
export function summarize(samples: Float64Array): LatencySummary {
  const sorted = Float64Array.from(samples).sort();
  return {
    p50: quantile(sorted, 0.5),
    p95: quantile(sorted, 0.95),
    p99: quantile(sorted, 0.99),
    mean: mean(sorted),
    max: sorted.length ? sorted[sorted.length - 1] : Number.NaN,
    count: sorted.length,
  };
}

/** Rounds for display and JSON: `digits` decimals, NaN kept as null by JSON. */
export function round(value: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}
