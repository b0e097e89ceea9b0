// Order statistics for timing samples. Quantiles interpolate linearly between
// the two nearest ranks (the "R-7" definition, as numpy and Excel use), so p10
// and p90 of 20 samples are not just the 2nd and 18th values.

export function quantile(samples, q) {
  if (samples.length === 0) return NaN;
  const s = [...samples].sort((a, b) => a - b);
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return s[lo] + (s[hi] - s[lo]) * (pos - lo);
}

/** { n, median, p10, p90, min, max, mean } of samples in ms. */
export function summarize(samples) {
  const n = samples.length;
  return {
    n,
    median: quantile(samples, 0.5),
    p10: quantile(samples, 0.1),
    p90: quantile(samples, 0.9),
    min: n ? Math.min(...samples) : NaN,
    max: n ? Math.max(...samples) : NaN,
    mean: n ? samples.reduce((a, b) => a + b, 0) / n : NaN,
  };
}
