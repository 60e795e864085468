/** Suggestions for a mistyped layer or tensor name. */

/** Up to five names closest to `wanted` (names containing it first, then by edit distance). */
export function nearestNames(wanted: string, names: string[]): string[] {
  const distance = (a: string, b: string): number => {
    const row = Array.from({ length: b.length + 1 }, (_, j) => j);
    for (let i = 1; i <= a.length; i++) {
      let prev = row[0];
      row[0] = i;
      for (let j = 1; j <= b.length; j++) {
        const tmp = row[j];
        row[j] = Math.min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
        prev = tmp;
      }
    }
    return row[b.length];
  };
  // Names containing what was typed come first (shortest first); then the rest by edit distance.
  return [...names]
    .map((n) => (n.includes(wanted) ? { n, group: 0, d: n.length - wanted.length } : { n, group: 1, d: distance(wanted, n) }))
    .sort((a, b) => a.group - b.group || a.d - b.d)
    .slice(0, 5)
    .map((x) => x.n);
}
