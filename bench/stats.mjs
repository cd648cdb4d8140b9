// Percentiles for bench samples.
export function pct(samples, p) {
  const s = [...samples].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const i = Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1));
  return s[i];
}
export function summary(samples) {
  const r = (x) => Math.round(x * 1000) / 1000;
  return { n: samples.length, p50: r(pct(samples, 50)), p95: r(pct(samples, 95)), min: r(Math.min(...samples)), max: r(Math.max(...samples)) };
}
