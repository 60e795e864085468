/**
 * The Markdown report: the same content as the HTML report as text and tables (no images, no
 * plots: every plotted number is in a table), for pull requests, notebooks and terminals.
 * All text from the record is escaped (`escapeMarkdown`).
 */
import { describeDevice } from '../formats/device.js';
import type { PathName, RunReport } from '../formats/run_report.js';
import { describePreprocess } from '../models/preprocess.js';
import type { DerivedReport } from './derive.js';
import { candidatesMarkdown, decisionRuleMarkdown } from './contest.js';
import { trustMarkdown } from './trust.js';
import { crossoverText, PATH_SHORT, PATH_TITLES, duration, escapeMarkdown as m, interval, MISSING, num, pct, pow2, pp, ppInterval, rate, sig } from './format.js';

function tableMd(head: string[], rows: string[][], numeric: boolean[] = []): string {
  const sep = head.map((_, i) => (numeric[i] ? '---:' : '---'));
  return [head, sep, ...rows].map((r) => `| ${r.join(' | ')} |`).join('\n');
}

function bullets(items: readonly string[]): string {
  return items.map((s) => `- ${m(s)}`).join('\n');
}

function cls(run: RunReport, i: number): string {
  return run.dataset.classes[i] ?? `class ${i}`;
}

const title = (p: PathName) => PATH_TITLES[p] ?? p;

export interface MarkdownInputs {
  run: RunReport;
  derived: DerivedReport;
  generatedAt: string;
  ftkVersion: string;
}

export function renderMarkdown({ run, derived: d, generatedAt, ftkVersion }: MarkdownInputs): string {
  const out: string[] = [];
  const ds = run.dataset;
  const dec = run.decision;
  const paths = run.paths ?? [];
  out.push(`# ftk report: ${m(ds.root)}`);
  const meta = [run.createdAt, run.ftkVersion && `ftk ${run.ftkVersion}`, run.seed !== undefined && run.seed !== null && `seed ${run.seed}`].filter(Boolean) as string[];
  if (meta.length) out.push(`Run: ${m(meta.join(' · '))}`);
  if (run.command?.length) out.push(`Command: \`${run.command.join(' ').replace(/`/g, "'")}\``);

  out.push(`## Decision\n\n**ftk chose: ${m(title(dec.chosen))}**`);
  if (dec.reasons.length) out.push(bullets(dec.reasons));
  if (dec.evidence?.withinNoise) out.push('_The difference between the paths is within the paired 95% interval: the cheaper path was preferred._');
  if (run.bundle) out.push(`Model bundle: \`${run.bundle.path.replace(/`/g, "'")}\``);
  out.push('### Prior (from the dataset, before training)');
  if (dec.prior) {
    out.push(`Favours **${m(title(dec.prior.favours))}**.`);
    if (dec.prior.reasons.length) out.push(bullets(dec.prior.reasons));
    const s = Object.entries(dec.prior.signals ?? {});
    if (s.length) out.push(tableMd(['signal', 'value'], s.map(([k, v]) => [m(k), m(typeof v === 'number' ? sig(v, 4) : String(v))]), [false, true]));
  } else out.push('_No prior was recorded._');
  out.push('### Evidence (measured on the same folds)');
  if (dec.evidence) {
    if (dec.evidence.best) out.push(`Best mean accuracy: **${m(title(dec.evidence.best))}**.`);
    if (dec.evidence.reasons.length) out.push(bullets(dec.evidence.reasons));
  } else out.push('_No measurements were recorded: the decision rests on the prior._');
  out.push(...decisionRuleMarkdown(dec));
  if (paths.length) {
    out.push(
      tableMd(
        ['path', 'accuracy', '95% interval', 'macro-F1', 'macro-F1 95% interval', 'folds', 'time'],
        paths.map((p) => {
          const f = d.macroF1[p.path];
          return [
            m(title(p.path)) + (p.path === dec.chosen ? ' **(chosen)**' : ''),
            pct(p.meanAccuracy),
            interval(p.ci95),
            f?.value === null || f?.value === undefined ? MISSING : f.value.toFixed(3),
            f?.ci95 ? `${f.ci95[0].toFixed(3)} - ${f.ci95[1].toFixed(3)}` : MISSING,
            num(p.foldAccuracies.length),
            duration(p.elapsedMs),
          ];
        }),
        [false, true, true, true, true, true, true],
      ),
    );
  }
  if (run.warnings?.length) out.push(`### Warnings\n\n${bullets(run.warnings)}`);

  out.push('## Dataset');
  out.push(
    bullets([
      `Root: ${ds.root}`,
      `${num(d.totalImages)} usable images in ${ds.classes.length} classes; imbalance (largest / smallest class) ${d.imbalance === null ? MISSING : `${d.imbalance.toFixed(2)}x`}`,
      `${ds.skipped.length} skipped file(s); ${ds.duplicates.length} group(s) of exact duplicates` + (ds.nearDuplicates ? `; ${ds.nearDuplicates.length} near-duplicate pair(s)` : ''),
      ...(ds.duplicateHandling ? [`Duplicates: ${ds.duplicateHandling}`] : []),
      ...(run.folds ? [`Folds: ${run.folds.k}-fold stratified${run.folds.repeats && run.folds.repeats > 1 ? `, ${run.folds.repeats} repeats` : ''}${run.folds.seed !== undefined && run.folds.seed !== null ? `, seed ${run.folds.seed}` : ''}${run.folds.note ? `; ${run.folds.note}` : ''}`] : []),
    ]),
  );
  out.push(tableMd(['class', 'images'], ds.classes.map((c, i) => [m(c), num(ds.counts[i])]), [false, true]));
  if (ds.imageSizes) {
    const s = ds.imageSizes;
    out.push(
      tableMd(
        ['image size (px)', 'min', 'median', 'max'],
        [
          ['width', num(s.width.min), num(s.width.median), num(s.width.max)],
          ['height', num(s.height.min), num(s.height.median), num(s.height.max)],
        ],
        [false, true, true, true],
      ),
    );
  }
  if (ds.skipped.length) out.push(`### Skipped files\n\n${tableMd(['file', 'reason'], ds.skipped.map((s) => [m(s.file), m(s.reason)]))}`);
  if (ds.duplicates.length) out.push(`### Exact duplicates\n\n${ds.duplicates.map((g) => `- ${g.map(m).join(' = ')}`).join('\n')}`);
  if (ds.nearDuplicates?.length) out.push(`### Near-duplicates\n\n${tableMd(['file', 'file', 'cosine'], ds.nearDuplicates.map((n) => [m(n.files[0]), m(n.files[1]), n.cosine.toFixed(4)]), [false, false, true])}`);

  out.push('## Cross-validated accuracy');
  if (paths.length) {
    const comps = run.comparisons ?? [];
    const maxFolds = Math.max(...paths.map((p) => p.foldAccuracies.length));
    const rows: string[][] = [];
    for (let f = 0; f < maxFolds; f++) rows.push([String(f + 1), ...paths.map((p) => pct(p.foldAccuracies[f])), ...comps.map((c) => pp(c.differences[f]))]);
    rows.push(['**mean**', ...paths.map((p) => `**${pct(p.meanAccuracy)}**`), ...comps.map((c) => `**${pp(c.meanDifference)}**`)]);
    rows.push(['95% interval', ...paths.map((p) => interval(p.ci95)), ...comps.map((c) => ppInterval(c.ci95))]);
    const head = ['fold', ...paths.map((p) => PATH_SHORT[p.path]), ...comps.map((c) => `${PATH_SHORT[c.a]} - ${PATH_SHORT[c.b]}`)];
    out.push(tableMd(head, rows, head.map((_, i) => i > 0)));
    for (const p of paths.filter((q) => q.params || q.label)) {
      out.push(`- **${m(title(p.path))}**${p.label ? `: ${m(p.label)}` : ''}${p.params ? ` (${m(Object.entries(p.params).map(([k, v]) => `${k}=${typeof v === 'number' ? sig(v, 4) : String(v)}`).join(', '))})` : ''}`);
    }
  } else out.push('_No path was cross-validated in this run._');

  out.push(...candidatesMarkdown(d));

  out.push('## Paired differences');
  if (run.comparisons?.length) {
    out.push(
      tableMd(
        ['comparison', 'mean difference', '95% interval', 'verdict'],
        run.comparisons.map((c) => [
          m(`${title(c.a)} - ${title(c.b)}`),
          pp(c.meanDifference),
          ppInterval(c.ci95),
          c.ci95[0] > 0 ? `${PATH_SHORT[c.a]} better` : c.ci95[1] < 0 ? `${PATH_SHORT[c.b]} better` : 'within noise',
        ]),
        [false, true, true, false],
      ),
    );
  } else out.push('_No paired comparison: fewer than two paths ran on the same folds._');

  out.push('## Confusion matrices and per-class metrics');
  const withCm = paths.filter((p) => p.confusion);
  if (withCm.length) {
    for (const p of withCm) {
      out.push(`### ${m(title(p.path))} (rows: true class, columns: predicted)`);
      out.push(tableMd(['true \\ predicted', ...ds.classes.map(m)], p.confusion!.map((r, i) => [m(cls(run, i)), ...r.map((v) => num(v))]), [false, ...ds.classes.map(() => true)]));
    }
  }
  const withPc = paths.filter((p) => p.perClass);
  if (withPc.length) {
    const head = ['class', 'images', ...withPc.flatMap((p) => [`${PATH_SHORT[p.path]} precision`, `${PATH_SHORT[p.path]} recall`, `${PATH_SHORT[p.path]} F1`])];
    out.push(
      tableMd(
        head,
        ds.classes.map((c, i) => [m(c), num(ds.counts[i]), ...withPc.flatMap((p) => [p.perClass![i].precision, p.perClass![i].recall, p.perClass![i].f1].map((v) => v.toFixed(3)))]),
        head.map((_, i) => i > 0),
      ),
    );
  }
  if (!withCm.length && !withPc.length) out.push('_No confusion matrix was recorded._');

  out.push('## Learning curves');
  const curves = run.learningCurves?.curves.filter((c) => c.points.length) ?? [];
  if (curves.length) {
    out.push(
      tableMd(
        ['path', 'fraction', 'training images', 'mean accuracy', '95% interval'],
        curves.flatMap((c) => c.points.map((p) => [PATH_SHORT[c.path], pct(p.fraction, 0), num(p.trainSize), pct(p.meanAccuracy), interval(p.ci95)])),
        [false, true, true, true, true],
      ),
    );
    for (const c of run.learningCurves!.crossovers ?? []) out.push(`- ${m(crossoverText(c))}`);
  } else out.push('_No learning curve was measured in this run._');

  out.push(...trustMarkdown(run));

  out.push('## SVM grid search');
  const g = run.grid;
  if (g && g.points.length) {
    const Cs = [...new Set(g.points.map((p) => p.log2C))].sort((a, b) => a - b);
    const Gs = [...new Set(g.points.map((p) => p.log2Gamma))].sort((a, b) => (a ?? 0) - (b ?? 0));
    const at = new Map(g.points.map((p) => [`${p.log2C}|${p.log2Gamma}`, p.meanAccuracy]));
    const best = g.best ?? g.points.reduce((a, b) => (b.meanAccuracy > a.meanAccuracy ? b : a));
    out.push(`Mean cross-validated accuracy (%)${g.folds ? `, ${g.folds}-fold` : ''}${g.scope ? `; ${m(g.scope)}` : ''}. Best: C = ${pow2(best.log2C)}${best.log2Gamma !== null ? `, gamma = ${pow2(best.log2Gamma)}` : ''}, ${pct(best.meanAccuracy)} (in bold).`);
    out.push(
      tableMd(
        ['C \\ gamma', ...Gs.map((x) => (x === null ? 'linear' : pow2(x)))],
        Cs.map((c) => [
          pow2(c),
          ...Gs.map((x) => {
            const v = at.get(`${c}|${x}`);
            const s = v === undefined ? '' : (100 * v).toFixed(1);
            return c === best.log2C && x === best.log2Gamma ? `**${s}**` : s;
          }),
        ]),
        [false, ...Gs.map(() => true)],
      ),
    );
  } else out.push('_No SVM grid search was recorded._');

  out.push('## Most confidently wrong images');
  const cw = d.confidentlyWrong;
  if (!cw) out.push('_No out-of-fold predictions were recorded._');
  else if (!cw.items.length) out.push(`${m(title(cw.path))}: no mistakes in ${num(cw.totalPredictions)} out-of-fold predictions.`);
  else {
    out.push(`${m(title(cw.path))}: ${num(cw.totalWrong)} of ${num(cw.totalPredictions)} out-of-fold predictions are wrong; listed ${cw.order === 'confidence' ? 'by probability on the wrong class' : 'by file name (no probabilities)'}.`);
    out.push(
      tableMd(
        ['file', 'true', 'predicted', 'confidence', 'fold'],
        cw.items.map((it) => [m(it.file), m(cls(run, it.label)), m(cls(run, it.predicted)), it.confidence === null ? MISSING : pct(it.confidence), String(it.fold + 1)]),
        [false, false, false, true, true],
      ),
    );
  }

  out.push('## Timings, runtime and backbone');
  if (d.throughput.length) {
    out.push(tableMd(['stage', 'path', 'time', 'images', 'images/s'], d.throughput.map((s) => [m(s.name), s.path ? PATH_SHORT[s.path] : '', duration(s.ms), s.images === undefined ? MISSING : num(s.images), rate(s.images, s.ms)]), [false, false, true, true, true]));
    if (run.timings?.totalMs !== undefined) out.push(`Total: ${duration(run.timings.totalMs)}.`);
  } else out.push('_No timings were recorded._');
  if (run.budget) {
    out.push(`Budget: ${run.budget.minutes === null ? 'none' : `${sig(run.budget.minutes, 4)} min`}${run.budget.usedMinutes !== undefined ? `, used ${sig(run.budget.usedMinutes, 3)} min` : ''}.`);
    out.push(run.budget.cuts.length ? `What the budget cut:\n\n${bullets(run.budget.cuts)}` : 'Nothing was cut.');
  }
  if (run.runtime) {
    const rt = run.runtime;
    const rows: string[][] = [['backend', m(`${rt.backend}${rt.backendReason ? ` (${rt.backendReason})` : ''}`)]];
    if (rt.engine) rows.push(['engine', m(rt.engine)]);
    if (rt.device) rows.push(['device', m(describeDevice(rt.device))]);
    if (rt.threads !== undefined) rows.push(['threads', String(rt.threads)]);
    for (const [k, v] of Object.entries(rt.versions ?? {})) rows.push([m(k), m(v)]);
    if (rt.node) rows.push(['node', m(rt.node)]);
    if (rt.platform) rows.push(['platform', m(rt.platform)]);
    if (rt.cpu) rows.push(['cpu', m(`${rt.cpu}${rt.cores ? ` (${rt.cores} cores)` : ''}`)]);
    if (rt.memoryGiB !== undefined) rows.push(['memory', `${sig(rt.memoryGiB, 3)} GiB`]);
    out.push(tableMd(['runtime', ''], rows));
  }
  if (run.backbone) {
    const b = run.backbone;
    out.push(
      tableMd(
        ['backbone', ''],
        [
          ['model', m(`${b.name}${b.alpha !== undefined ? ` (alpha ${b.alpha})` : ''}`)],
          ['weights', m(b.weights)],
          ['weights sha256', m(b.weightsSha256)],
          ['bottleneck layer', m(`${b.layer} (pooling ${b.pooling})`)],
          ['input', m(`${b.inputSize}x${b.inputSize}, ${b.crop}, preprocessing ${describePreprocess(b.preprocessing)}${b.tta === 'flip' ? ', flip TTA (mean with the mirror)' : ''}`)],
          ['fingerprint', m(b.fingerprint)],
        ],
      ),
    );
  }
  out.push(`---\n_Rendered by ftk ${m(ftkVersion)} at ${m(generatedAt)} from run.json (format ${m(run.format)} v${run.formatVersion})._`);
  return out.join('\n\n') + '\n';
}
