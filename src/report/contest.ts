/**
 * The report's parts about `ftk auto`'s contest between the paths (issue 14), in HTML and in
 * Markdown (the two say the same):
 *
 * - in the decision section: the decision rule as applied (`decision.rule`) and the contenders it
 *   left out with why (`decision.excluded`);
 * - the "Candidates" section: every configuration each path tried inside the training folds
 *   (`candidates`), with its mean inner score, how many outer folds picked it, its outer accuracy
 *   where picked, its time, and why it was pruned or which cap it hit. The section appears only
 *   when the record has candidates (older records and prior-only runs have none to show).
 */
import type { Decision } from '../formats/run_report.js';
import type { CandidateSummary, DerivedReport } from './derive.js';
import { duration, escapeHtml as h, escapeMarkdown as m, MISSING, PATH_SHORT, pct, sig } from './format.js';
import { list, swatch, table, type Section } from './html_parts.js';

const INTRO =
  'Every configuration each path tried. In each outer fold the path scored its candidates on the training rows only (inner score) and picked one; ' +
  "the held-out fold then scored the pick (outer accuracy). A path's accuracy is that of its picks, so a candidate's outer accuracy comes only from the folds that picked it.";

const HEAD = ['path', 'candidate', 'settings', 'mean inner score', 'picked', 'outer accuracy where picked', 'time', 'pruned / cap'];
const NUMERIC = [false, false, false, true, true, true, true, false];

function configText(c: CandidateSummary['config']): string {
  return Object.entries(c)
    .map(([k, v]) => `${k}=${typeof v === 'number' ? sig(v, 4) : String(v)}`)
    .join(', ');
}

/** The text cells of one row (escaped by the caller for its format). */
function cells(c: CandidateSummary): { inner: string; picked: string; outer: string; time: string } {
  return {
    inner: c.meanInnerScore === null ? MISSING : `${pct(c.meanInnerScore)}${c.innerFolds < c.folds ? ` (${c.innerFolds} of ${c.folds} folds)` : ''}`,
    picked: `${c.picked} of ${c.folds}`,
    outer: c.meanOuterAccuracy === null ? MISSING : `${pct(c.meanOuterAccuracy)}${c.outerFolds > 1 ? ` (${c.outerFolds} folds)` : c.outerFolds === 1 ? ' (1 fold)' : ''}`,
    time: duration(c.ms),
  };
}

/** The rule and the left-out contenders, for the decision section's evidence box (HTML). */
export function decisionRuleHtml(dec: Decision): string {
  let b = '';
  if (dec.rule) b += `<p class="rule"><strong>Decision rule.</strong> ${h(dec.rule)}</p>`;
  if (dec.excluded?.length) b += `<p><strong>Not compared</strong> (too few folds in common):</p>${list(dec.excluded.map((e) => e.why))}`;
  return b;
}

/** The same as Markdown blocks. */
export function decisionRuleMarkdown(dec: Decision): string[] {
  const out: string[] = [];
  if (dec.rule) out.push(`**Decision rule.** ${m(dec.rule)}`);
  if (dec.excluded?.length) out.push(`**Not compared** (too few folds in common):\n\n${dec.excluded.map((e) => `- ${m(e.why)}`).join('\n')}`);
  return out;
}

/** The "Candidates" section (HTML), or null when the record has no candidates. */
export function candidatesSectionHtml(d: DerivedReport): Section | null {
  if (!d.candidates.length) return null;
  const rows = d.candidates.map((c) => {
    const t = cells(c);
    return [`${swatch(c.path)}${h(PATH_SHORT[c.path] ?? c.path)}`, h(c.label), `<code>${h(configText(c.config))}</code>`, h(t.inner), h(t.picked), h(t.outer), h(t.time), h(c.note)];
  });
  return { id: 'candidates', title: 'Candidates', body: `<p>${h(INTRO)}</p>${table(HEAD.map(h), rows, NUMERIC, (i) => (d.candidates[i].picked > 0 ? 'best' : ''))}` };
}

/** The "Candidates" section as Markdown blocks (none when the record has no candidates). */
export function candidatesMarkdown(d: DerivedReport): string[] {
  if (!d.candidates.length) return [];
  const sep = NUMERIC.map((n) => (n ? '---:' : '---'));
  const rows = d.candidates.map((c) => {
    const t = cells(c);
    const label = c.picked > 0 ? `**${m(c.label)}**` : m(c.label);
    return [m(PATH_SHORT[c.path] ?? c.path), label, m(configText(c.config)), t.inner, t.picked, t.outer, t.time, m(c.note)];
  });
  return ['## Candidates', m(INTRO), [HEAD, sep, ...rows].map((r) => `| ${r.join(' | ')} |`).join('\n')];
}
