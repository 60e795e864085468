/**
 * The claims check: every figure in README.md and bench/RESULTS.md is listed in bench/claims.json
 * with the committed record it came from (a measurement), or with why it needs none (a setting, a
 * definition such as "95% interval", a published reference). See bench/claims.json's header.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

export interface Claim {
  /** The document holding the figure(s). */
  doc: string;
  /** An exact piece of the document (it may span lines); every figure inside it is this claim's. */
  text?: string;
  /** Or a whole generated section of bench/RESULTS.md (between `<!-- name:start -->` and `<!-- name:end -->`). */
  section?: string;
  /** 'measured' (needs `record` and `script`), 'setting' (a default or design constant), 'definition' (a confidence level, a unit), 'reference' (published elsewhere, cited). */
  kind: 'measured' | 'setting' | 'definition' | 'reference';
  /** Raw records (JSONL or logs with date, load average and versions) of a measured figure. */
  records?: string[];
  /** The committed script that wrote the records. */
  script?: string;
  /** Figures of `text` that must appear in a record (a number there rounding to it, as is or x100 for percentages). */
  values?: string[];
  /** For settings, definitions and references: what it is. */
  why?: string;
}

/** Numbers with a unit of measurement: a percentage, a time, a size, a rate or a ratio. */
export const FIGURE = /[+-]?\d[\d,]*(?:\.\d+)?\s?(?:%|x\b|s\b|ms\b|min\b|MB\b|GB\b|GiB\b|KB\b|img\/s|images\/s)/g;

/** Every figure of `doc` with its offset. */
export function figuresOf(text: string): { figure: string; at: number }[] {
  return [...text.matchAll(FIGURE)].map((m) => ({ figure: m[0], at: m.index! }));
}

/** True when some number in `record` rounds to `value` (as is, or x100 for fractions vs percentages). */
export function recordHolds(record: string, value: string): boolean {
  const v = Number(value.replace(/[,+]/g, ''));
  const decimals = (value.split('.')[1] ?? '').length;
  const near = (x: number) => Math.abs(x - v) <= 0.5 * 10 ** -decimals + 1e-9;
  for (const m of record.matchAll(/-?\d+(?:\.\d+)?(?:e[+-]?\d+)?/gi)) {
    const x = Number(m[0]);
    if (near(x) || near(100 * x)) return true;
  }
  return false;
}

/** Problems with the claims of `docs` under `root`: uncovered figures, stale texts, missing records or scripts, values no record holds. */
export function checkClaims(root: string, claims: Claim[], docs: string[], exists: (file: string) => boolean = (f) => existsSync(path.join(root, f))): string[] {
  const problems: string[] = [];
  for (const doc of docs) {
    const text = readFileSync(path.join(root, doc), 'utf8');
    const covered: [number, number][] = [];
    for (const c of claims.filter((x) => x.doc === doc)) {
      if (c.section !== undefined) {
        const a = text.indexOf(`<!-- ${c.section}:start -->`);
        const b = text.indexOf(`<!-- ${c.section}:end -->`);
        if (a < 0 || b < a) problems.push(`${doc}: section ${c.section} not found`);
        else covered.push([a, b]);
        continue;
      }
      const piece = c.text ?? '';
      let i = piece ? text.indexOf(piece) : -1;
      if (i < 0) problems.push(`${doc}: claim text not found (the document changed?): "${piece.slice(0, 80)}"`);
      while (i >= 0) {
        covered.push([i, i + piece.length]);
        i = text.indexOf(piece, i + 1);
      }
    }
    for (const { figure, at } of figuresOf(text)) {
      if (!covered.some(([a, b]) => at >= a && at + figure.length <= b)) {
        const line = text.slice(0, at).split('\n').length;
        problems.push(`${doc}:${line}: "${figure}" is not listed in bench/claims.json (context: "${text.slice(Math.max(0, at - 40), at + figure.length + 20).replace(/\n/g, ' ')}")`);
      }
    }
  }
  for (const c of claims) {
    const where = c.section !== undefined ? `${c.doc} section ${c.section}` : `${c.doc}: "${(c.text ?? '').slice(0, 60)}"`;
    if (c.kind === 'measured') {
      if (!c.records?.length) problems.push(`${where}: a measured figure names no record`);
      if (!c.script) problems.push(`${where}: a measured figure names no script`);
      else if (!exists(c.script)) problems.push(`${where}: script ${c.script} does not exist`);
      for (const r of c.records ?? []) if (!exists(r)) problems.push(`${where}: record ${r} does not exist`);
      const present = (c.records ?? []).filter(exists);
      if (present.length === (c.records ?? []).length) {
        const all = present.map((r) => readFileSync(path.join(root, r), 'utf8')).join('\n');
        for (const v of c.values ?? []) {
          if (c.text !== undefined && !c.text.includes(v)) problems.push(`${where}: value ${v} is not in the claim's text`);
          else if (!recordHolds(all, v)) problems.push(`${where}: no record holds ${v} (${present.join(', ')})`);
        }
      }
    } else if (!c.why) {
      problems.push(`${where}: a ${c.kind} needs a why`);
    }
  }
  return problems;
}
