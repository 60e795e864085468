/**
 * The HTML report: one self-contained file. Inline CSS, inline SVG plots (src/report/svg.ts),
 * thumbnails as data URIs, no scripts, and a Content-Security-Policy that forbids every network
 * or file load, so the page shows the same thing offline, from an e-mail attachment or a CI
 * artifact. Every part of the record is optional except the dataset and the decision: a missing
 * part becomes a one-line note in its section.
 */
import { describeDevice } from '../formats/device.js';
import type { PathResult, RunReport } from '../formats/run_report.js';
import { describePreprocess } from '../models/preprocess.js';
import type { DerivedReport } from './derive.js';
import {
  crossoverText,
  PATH_COLORS,
  PATH_SHORT,
  decimalsFor,
  duration,
  escapeHtml as h,
  interval,
  MISSING,
  num,
  numAxis,
  pct,
  pctAxis,
  pow2,
  pp,
  ppInterval,
  rate,
  sig,
} from './format.js';
import { candidatesSectionHtml, decisionRuleHtml } from './contest.js';
import { collapsible, figure, kvTable, list, missing, pathName, swatch, table, type Section } from './html_parts.js';
import { barPlot, heatMap, intervalPlot, linePlot } from './svg.js';
import type { Thumbnail } from './thumbnails.js';
import { trustSectionsHtml } from './trust.js';

export interface HtmlInputs {
  run: RunReport;
  derived: DerivedReport;
  /** Thumbnails of `derived.confidentlyWrong.items`, same order (missing: none shown). */
  thumbnails?: Thumbnail[];
  /** ISO time stamp printed in the footer. */
  generatedAt: string;
  /** Version of the ftk that rendered the report. */
  ftkVersion: string;
}

/** The page's Content-Security-Policy: nothing may load except data: images and the inline CSS. */
export const REPORT_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'";

const CSS = `
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", Arial, sans-serif; color: #1b1b1b; background: #f6f7f9; }
main { max-width: 1120px; margin: 0 auto; padding: 24px 28px 48px; background: #fff; }
header { border-bottom: 1px solid #ddd; margin-bottom: 8px; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 21px; margin: 36px 0 10px; padding-bottom: 4px; border-bottom: 2px solid #e6e8ec; }
h3 { font-size: 16px; margin: 20px 0 8px; }
p, ul { margin: 6px 0 10px; }
.meta { color: #555; font-size: 13px; margin: 0 0 10px; }
.meta code, td code, li code { font-size: 12.5px; background: #f1f2f4; padding: 1px 4px; border-radius: 3px; word-break: break-all; }
nav ul { display: flex; flex-wrap: wrap; gap: 6px 16px; list-style: none; padding: 0; font-size: 14px; }
nav a { color: #0b5cad; text-decoration: none; }
.decision { border-left: 6px solid var(--path); background: #f8fafc; padding: 12px 18px; margin: 14px 0; }
.decision .chosen { font-size: 22px; font-weight: 700; color: var(--path); }
.boxes { display: flex; flex-wrap: wrap; gap: 14px; }
.box { flex: 1 1 320px; border: 1px solid #e1e4e8; border-radius: 6px; padding: 10px 14px; }
.box h3 { margin-top: 2px; }
.note, .missing { color: #666; font-style: italic; }
.warn { background: #fff8e5; border: 1px solid #f0d890; border-radius: 6px; padding: 8px 14px; }
.scroll { overflow-x: auto; max-width: 100%; }
table { border-collapse: collapse; margin: 8px 0 14px; font-size: 14px; }
th.group { text-align: center; border-left: 2px solid #fff; }
th, td { border-bottom: 1px solid #e6e8ec; padding: 4px 10px; text-align: left; vertical-align: top; }
tbody th[scope=row] { background: none; font-weight: 500; color: #444; white-space: nowrap; }
th { background: #f3f4f6; font-weight: 600; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.best td { font-weight: 600; }
.swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 6px; vertical-align: baseline; }
.plots { display: flex; flex-wrap: wrap; gap: 18px; align-items: flex-start; }
figure.plot { margin: 8px 0; max-width: 100%; }
figure.plot svg { display: block; max-width: 100%; height: auto; border: 1px solid #eceef1; border-radius: 4px; }
figure.plot figcaption { font-size: 13px; color: #444; max-width: 660px; margin-top: 4px; }
.thumbs { display: grid; grid-template-columns: repeat(auto-fill, minmax(150px, 1fr)); gap: 14px; }
.thumb { margin: 0; border: 1px solid #e1e4e8; border-radius: 6px; padding: 8px; font-size: 12.5px; text-align: center; }
.thumb img, .thumb .noimg { display: block; margin: 0 auto 6px; width: 96px; height: 96px; object-fit: contain; background: #f3f4f6; }
.thumb .noimg { font-size: 11px; color: #777; padding-top: 30px; }
.thumb .file { color: #555; word-break: break-all; }
.thumb .conf { font-weight: 600; color: #b3261e; }
details summary { cursor: pointer; color: #0b5cad; }
footer { margin-top: 40px; color: #666; font-size: 12.5px; border-top: 1px solid #ddd; padding-top: 8px; }
@media print { body { background: #fff; } main { padding: 0; } nav { display: none; } }
`;

function cls(run: RunReport, i: number): string {
  return run.dataset.classes[i] ?? `class ${i}`;
}

function paramsText(p: PathResult['params']): string {
  if (!p) return '';
  return Object.entries(p)
    .map(([k, v]) => `${k}=${typeof v === 'number' ? sig(v, 4) : String(v)}`)
    .join(', ');
}

function decisionSection(run: RunReport, d: DerivedReport): Section {
  const dec = run.decision;
  let b = `<div class="decision" style="--path:${PATH_COLORS[dec.chosen]}">`;
  b += `<div>ftk chose <span class="chosen">${h(pathName(dec.chosen))}</span></div>`;
  b += dec.reasons.length ? list(dec.reasons) : missing('No reasons were recorded.');
  if (dec.evidence?.withinNoise) b += `<p class="note">The difference between the paths is within the paired 95% interval: the cheaper path was preferred.</p>`;
  if (run.bundle) b += `<p>Model bundle: <code>${h(run.bundle.path)}</code>${run.bundle.sizeBytes ? ` (${h(num(run.bundle.sizeBytes))} bytes)` : ''}</p>`;
  b += '</div>';
  b += '<div class="boxes">';
  b += '<div class="box"><h3>Prior (from the dataset, before training)</h3>';
  if (dec.prior) {
    b += `<p>Favours <strong>${h(pathName(dec.prior.favours))}</strong>.</p>${list(dec.prior.reasons)}`;
    const sigs = Object.entries(dec.prior.signals ?? {});
    if (sigs.length) b += table(['signal', 'value'], sigs.map(([k, v]) => [h(k), h(typeof v === 'number' ? sig(v, 4) : String(v))]), [false, true]);
  } else b += missing('No prior was recorded.');
  b += '</div><div class="box"><h3>Evidence (measured on the same folds)</h3>';
  if (dec.evidence) {
    if (dec.evidence.best) b += `<p>Best mean accuracy: <strong>${h(pathName(dec.evidence.best))}</strong>.</p>`;
    b += list(dec.evidence.reasons);
  } else b += missing('No measurements were recorded: the decision rests on the prior.');
  b += decisionRuleHtml(dec);
  b += '</div></div>';
  const paths = run.paths ?? [];
  if (paths.length) {
    b += '<h3>Summary</h3>';
    b += table(
      ['path', 'accuracy', '95% interval', 'macro-F1', 'macro-F1 95% interval', 'folds', 'time'],
      paths.map((p) => {
        const m = d.macroF1[p.path];
        return [
          `${swatch(p.path)}${h(pathName(p.path))}${p.path === dec.chosen ? ' <strong>(chosen)</strong>' : ''}`,
          h(pct(p.meanAccuracy)),
          h(interval(p.ci95)),
          h(m?.value === null || m?.value === undefined ? MISSING : m.value.toFixed(3)),
          h(m?.ci95 ? `${m.ci95[0].toFixed(3)} - ${m.ci95[1].toFixed(3)}` : MISSING),
          h(num(p.foldAccuracies.length)),
          h(duration(p.elapsedMs)),
        ];
      }),
      [false, true, true, true, true, true, true],
      (i) => (paths[i].path === dec.chosen ? 'best' : ''),
    );
  }
  if (run.warnings?.length) b += `<div class="warn"><h3>Warnings</h3>${list(run.warnings)}</div>`;
  return { id: 'decision', title: 'Decision', body: b };
}

function datasetSection(run: RunReport, d: DerivedReport): Section {
  const ds = run.dataset;
  const k = ds.classes.length;
  let b = '<ul>';
  b += `<li>Root: <code>${h(ds.root)}</code></li>`;
  b += `<li>${h(num(d.totalImages))} usable images in ${h(num(k))} classes; imbalance (largest / smallest class) ${h(d.imbalance === null ? MISSING : `${d.imbalance.toFixed(2)}x`)}</li>`;
  b += `<li>${h(num(ds.skipped.length))} skipped file(s); ${h(num(ds.duplicates.length))} group(s) of exact duplicates`;
  if (ds.nearDuplicates) b += `; ${h(num(ds.nearDuplicates.length))} near-duplicate pair(s)${ds.nearDuplicateThreshold !== undefined ? ` (feature cosine >= ${h(sig(ds.nearDuplicateThreshold, 4))})` : ''}`;
  b += '</li>';
  if (ds.duplicateHandling) b += `<li>Duplicates: ${h(ds.duplicateHandling)}</li>`;
  if (run.folds) b += `<li>Folds: ${h(`${run.folds.k}-fold stratified`)}${run.folds.repeats && run.folds.repeats > 1 ? h(`, ${run.folds.repeats} repeats`) : ''}${run.folds.seed !== undefined && run.folds.seed !== null ? h(`, seed ${run.folds.seed}`) : ''}${run.folds.note ? h(`; ${run.folds.note}`) : ''}</li>`;
  b += '</ul>';
  const desc = `Images per class: ${ds.classes.map((c, i) => `${c} ${ds.counts[i]}`).join(', ')}.`;
  b += '<div class="plots">';
  b += figure(
    barPlot({
      id: 'class-counts',
      title: 'Images per class',
      description: desc,
      xLabel: 'images',
      format: (v, step) => (step === undefined ? num(v) : numAxis(v, step)),
      rows: ds.classes.map((c, i) => ({ label: c, value: ds.counts[i] })),
    }),
  );
  b += '</div>';
  if (ds.imageSizes) {
    const s = ds.imageSizes;
    b += '<h3>Image sizes</h3>';
    b += table(
      ['', 'min', 'median', 'max'],
      [
        ['width (px)', h(num(s.width.min)), h(num(s.width.median)), h(num(s.width.max))],
        ['height (px)', h(num(s.height.min)), h(num(s.height.median)), h(num(s.height.max))],
      ],
      [false, true, true, true],
    );
    if (s.commonest?.length) b += `<p>Commonest sizes: ${h(s.commonest.map((c) => `${c.width}x${c.height} (${c.count})`).join(', '))} over ${h(num(s.count))} images.</p>`;
  }
  if (ds.skipped.length) {
    b += '<h3>Skipped files</h3>';
    b += collapsible(`${ds.skipped.length} file(s)`, table(['file', 'reason'], ds.skipped.map((s) => [`<code>${h(s.file)}</code>`, h(s.reason)])), ds.skipped.length <= 10);
  }
  if (ds.duplicates.length) {
    b += '<h3>Exact duplicates</h3>';
    b += collapsible(
      `${ds.duplicates.length} group(s)`,
      `<ul>${ds.duplicates.map((g) => `<li>${g.map((f) => `<code>${h(f)}</code>`).join(' = ')}</li>`).join('')}</ul>`,
      ds.duplicates.length <= 10,
    );
  }
  if (ds.nearDuplicates?.length) {
    b += '<h3>Near-duplicates</h3>';
    b += collapsible(
      `${ds.nearDuplicates.length} pair(s)`,
      table(['file', 'file', 'cosine'], ds.nearDuplicates.map((n) => [`<code>${h(n.files[0])}</code>`, `<code>${h(n.files[1])}</code>`, h(n.cosine.toFixed(4))]), [false, false, true]),
      ds.nearDuplicates.length <= 10,
    );
  }
  return { id: 'dataset', title: 'Dataset', body: b };
}

function accuracySection(run: RunReport, d: DerivedReport): Section {
  const paths = run.paths ?? [];
  if (!paths.length) return { id: 'accuracy', title: 'Cross-validated accuracy', body: missing('No path was cross-validated in this run.') };
  let b = '<div class="plots">';
  b += figure(
    intervalPlot({
      id: 'accuracy',
      title: 'Accuracy (mean over folds, 95% interval)',
      description: `Mean cross-validated accuracy with 95% intervals: ${paths.map((p) => `${PATH_SHORT[p.path]} ${pct(p.meanAccuracy)} (${interval(p.ci95)})`).join('; ')}.`,
      xLabel: 'accuracy',
      format: pctAxis,
      clip: [0, 1],
      rows: paths.map((p) => ({ label: PATH_SHORT[p.path], value: p.meanAccuracy, lo: p.ci95[0], hi: p.ci95[1], color: PATH_COLORS[p.path], valueText: `${pct(p.meanAccuracy)} [${interval(p.ci95)}]` })),
    }),
  );
  const f1rows = paths
    .map((p) => ({ p, m: d.macroF1[p.path] }))
    .filter((x) => x.m && x.m.value !== null)
    .map(({ p, m }) => ({
      label: PATH_SHORT[p.path],
      value: m!.value!,
      ...(m!.ci95 ? { lo: m!.ci95[0], hi: m!.ci95[1] } : {}),
      color: PATH_COLORS[p.path],
      valueText: m!.ci95 ? `${m!.value!.toFixed(3)} [${m!.ci95[0].toFixed(3)} - ${m!.ci95[1].toFixed(3)}]` : m!.value!.toFixed(3),
    }));
  if (f1rows.length) {
    b += figure(
      intervalPlot({
        id: 'macro-f1',
        title: 'Macro-F1 (mean over folds, 95% interval)',
        description: `Macro-F1: ${f1rows.map((r) => `${r.label} ${r.valueText}`).join('; ')}.`,
        xLabel: 'macro-F1',
        format: (v, step) => numAxis(v, step, 3),
        clip: [0, 1],
        rows: f1rows,
      }),
    );
  }
  const maxFolds = Math.max(...paths.map((p) => p.foldAccuracies.length));
  if (maxFolds > 0) {
    b += figure(
      linePlot({
        id: 'folds',
        title: 'Accuracy per fold (same folds for every path)',
        description: paths.map((p) => `${PATH_SHORT[p.path]}: ${p.foldAccuracies.map((a) => pct(a)).join(', ')}`).join('; ') + '.',
        xLabel: 'fold',
        yLabel: 'accuracy',
        xFormat: (v) => String(v),
        yFormat: pctAxis,
        xTicks: Array.from({ length: maxFolds }, (_, i) => i + 1),
        yClip: [0, 1],
        width: 560,
        height: 320,
        series: paths.map((p) => ({ name: PATH_SHORT[p.path], color: PATH_COLORS[p.path], points: p.foldAccuracies.map((a, i) => ({ x: i + 1, y: a })) })),
      }),
    );
  }
  b += '</div>';
  b += '<h3>Per-fold accuracy</h3>';
  const comps = run.comparisons ?? [];
  const head = ['fold', ...paths.map((p) => `${swatch(p.path)}${h(PATH_SHORT[p.path])}`), ...comps.map((c) => h(`${PATH_SHORT[c.a]} - ${PATH_SHORT[c.b]}`))];
  const rows: string[][] = [];
  for (let f = 0; f < maxFolds; f++) {
    rows.push([h(String(f + 1)), ...paths.map((p) => h(pct(p.foldAccuracies[f]))), ...comps.map((c) => h(pp(c.differences[f])))]);
  }
  rows.push([
    '<strong>mean</strong>',
    ...paths.map((p) => `<strong>${h(pct(p.meanAccuracy))}</strong>`),
    ...comps.map((c) => `<strong>${h(pp(c.meanDifference))}</strong>`),
  ]);
  rows.push(['95% interval', ...paths.map((p) => h(interval(p.ci95))), ...comps.map((c) => h(ppInterval(c.ci95)))]);
  b += table(head, rows, head.map((_, i) => i > 0));
  const withParams = paths.filter((p) => p.params || p.label || p.notes?.length);
  if (withParams.length) {
    b += '<h3>Settings</h3><ul>';
    for (const p of withParams) {
      b += `<li>${swatch(p.path)}<strong>${h(pathName(p.path))}</strong>${p.label ? `: ${h(p.label)}` : ''}${p.params ? ` <code>${h(paramsText(p.params))}</code>` : ''}${p.notes?.length ? list(p.notes) : ''}</li>`;
    }
    b += '</ul>';
  }
  return { id: 'accuracy', title: 'Cross-validated accuracy', body: b };
}

function pairedSection(run: RunReport): Section {
  const comps = run.comparisons ?? [];
  if (!comps.length) return { id: 'paired', title: 'Paired differences', body: missing('No paired comparison: fewer than two paths ran on the same folds.') };
  let b = `<p>Accuracy differences fold by fold (same folds), mean with a 95% interval (Student t over the folds). An interval that contains 0 means the paths are not distinguishable on this data.</p>`;
  b += figure(
    intervalPlot({
      id: 'paired-differences',
      title: 'Paired accuracy difference (95% interval)',
      description: comps.map((c) => `${PATH_SHORT[c.a]} minus ${PATH_SHORT[c.b]}: ${pp(c.meanDifference)} (${ppInterval(c.ci95)})`).join('; ') + '.',
      xLabel: 'accuracy difference (percentage points)',
      format: (v, step) => (step === undefined ? pp(v) : (100 * v).toFixed(decimalsFor(100 * step))),
      reference: { value: 0, label: 'no difference' },
      rows: comps.map((c) => ({
        label: `${PATH_SHORT[c.a]} - ${PATH_SHORT[c.b]}`,
        value: c.meanDifference,
        lo: c.ci95[0],
        hi: c.ci95[1],
        color: c.ci95[0] > 0 ? PATH_COLORS[c.a] : c.ci95[1] < 0 ? PATH_COLORS[c.b] : '#555',
        valueText: `${pp(c.meanDifference)} [${ppInterval(c.ci95)}]`,
      })),
    }),
  );
  b += table(
    ['comparison', 'mean difference', '95% interval', 'verdict'],
    comps.map((c) => [
      h(`${pathName(c.a)} - ${pathName(c.b)}`),
      h(pp(c.meanDifference)),
      h(ppInterval(c.ci95)),
      h(c.ci95[0] > 0 ? `${PATH_SHORT[c.a]} better` : c.ci95[1] < 0 ? `${PATH_SHORT[c.b]} better` : 'within noise'),
    ]),
    [false, true, true, false],
  );
  return { id: 'paired', title: 'Paired differences', body: b };
}

function confusionSection(run: RunReport): Section {
  const paths = (run.paths ?? []).filter((p) => p.confusion || p.perClass);
  if (!paths.length) return { id: 'confusion', title: 'Confusion matrices and per-class metrics', body: missing('No confusion matrix was recorded.') };
  const k = run.dataset.classes.length;
  let b = '<p>Out-of-fold predictions pooled over the folds. Rows: true class; columns: predicted class; colour: share of the true class (recall on the diagonal).</p><div class="plots">';
  for (const p of paths) {
    if (!p.confusion) continue;
    const m = p.confusion;
    const rowSums = m.map((r) => r.reduce((a, b2) => a + b2, 0));
    const values = m.map((r, i) => r.map((v) => (rowSums[i] > 0 ? v / rowSums[i] : null)));
    const correct = m.reduce((a, r, i) => a + r[i], 0);
    const total = rowSums.reduce((a, b2) => a + b2, 0);
    b += figure(
      heatMap({
        id: `confusion-${p.path}`,
        title: `Confusion matrix: ${PATH_SHORT[p.path]}`,
        description: `${pathName(p.path)}: ${correct} of ${total} out-of-fold predictions correct. ` + m.map((r, i) => `true ${cls(run, i)}: ${r.map((v, j) => `${v} predicted ${cls(run, j)}`).join(', ')}`).join('; ') + '.',
        rowLabels: run.dataset.classes,
        colLabels: run.dataset.classes,
        rowTitle: 'true class',
        colTitle: 'predicted class',
        values,
        texts: m.map((r, i) => r.map((v) => `${v}\n${rowSums[i] > 0 ? pct(v / rowSums[i], 0) : MISSING}`)),
        colorDomain: [0, 1],
        legendFormat: (v) => pct(v, 0),
        legendTitle: 'share of row',
      }),
    );
  }
  b += '</div>';
  const withPc = paths.filter((p) => p.perClass);
  if (withPc.length) {
    b += '<h3>Per-class precision, recall and F1</h3>';
    const head = ['class', 'images', ...withPc.flatMap(() => ['precision', 'recall', 'F1'])];
    const groups: [string, number][] = [['', 2], ...withPc.map((p) => [`${swatch(p.path)}${h(PATH_SHORT[p.path])}`, 3] as [string, number])];
    const rows = Array.from({ length: k }, (_, c) => [h(cls(run, c)), h(num(run.dataset.counts[c])), ...withPc.flatMap((p) => [p.perClass![c].precision, p.perClass![c].recall, p.perClass![c].f1].map((v) => h(v.toFixed(3))))]);
    b += table(head, rows, head.map((_, i) => i > 0), () => '', groups);
  }
  return { id: 'confusion', title: 'Confusion matrices and per-class metrics', body: b };
}

function learningSection(run: RunReport): Section {
  const lc = run.learningCurves;
  const curves = (lc?.curves ?? []).filter((c) => c.points.length > 0);
  if (!curves.length) return { id: 'learning-curves', title: 'Learning curves', body: missing('No learning curve was measured in this run.') };
  const sizes = curves.flatMap((c) => c.points.map((p) => p.trainSize)).filter((n) => n > 0);
  const maxSize = Math.max(...sizes);
  const minSize = Math.min(...sizes);
  const crossovers = lc!.crossovers ?? [];
  const plotted = crossovers.filter((c) => c.trainSize !== null && c.trainSize > 0 && c.trainSize <= maxSize * 4);
  const log = maxSize / Math.max(1, minSize) >= 8;
  let b = '<div class="plots">';
  b += figure(
    linePlot({
      id: 'learning-curves',
      title: 'Learning curves (mean accuracy, 95% band)',
      description:
        curves.map((c) => `${PATH_SHORT[c.path]}: ${c.points.map((p) => `${p.trainSize} images ${pct(p.meanAccuracy)}`).join(', ')}`).join('; ') +
        '.' +
        (crossovers.length ? ` ${crossovers.map(crossoverText).join('. ')}.` : ''),
      xLabel: `training images per fold${log ? ' (log scale)' : ''}`,
      yLabel: 'accuracy',
      xScale: log ? 'log' : 'linear',
      xFormat: (v) => num(Math.round(v)),
      yFormat: pctAxis,
      yClip: [0, 1],
      markers: plotted.map((c) => ({ x: c.trainSize!, label: `crossover ~${num(c.trainSize!)}${c.extrapolated ? ' (extrapolated)' : ''}` })),
      series: curves.map((c) => ({
        name: PATH_SHORT[c.path],
        color: PATH_COLORS[c.path],
        points: c.points.map((p) => ({ x: p.trainSize, y: p.meanAccuracy, ...(p.ci95 ? { lo: p.ci95[0], hi: p.ci95[1] } : {}), label: `${PATH_SHORT[c.path]}: ${num(p.trainSize)} images (${pct(p.fraction, 0)}) -> ${pct(p.meanAccuracy)}${p.ci95 ? ` [${interval(p.ci95)}]` : ''}` })),
      })),
    }),
  );
  b += '</div>';
  if (crossovers.length) b += `<h3>Crossover</h3>${list(crossovers.map(crossoverText))}`;
  const head = ['path', 'fraction', 'training images', 'mean accuracy', '95% interval'];
  const rows = curves.flatMap((c) => c.points.map((p) => [`${swatch(c.path)}${h(PATH_SHORT[c.path])}`, h(pct(p.fraction, 0)), h(num(p.trainSize)), h(pct(p.meanAccuracy)), h(interval(p.ci95))]));
  b += table(head, rows, [false, true, true, true, true]);
  return { id: 'learning-curves', title: 'Learning curves', body: b };
}

function gridSection(run: RunReport): Section {
  const g = run.grid;
  if (!g || !g.points.length) return { id: 'grid', title: 'SVM grid search', body: missing('No SVM grid search was recorded.') };
  const Cs = [...new Set(g.points.map((p) => p.log2C))].sort((a, b) => a - b);
  const Gs = [...new Set(g.points.map((p) => p.log2Gamma))].sort((a, b) => (a ?? 0) - (b ?? 0));
  const at = new Map(g.points.map((p) => [`${p.log2C}|${p.log2Gamma}`, p]));
  const best = g.best ?? g.points.reduce((a, b) => (b.meanAccuracy > a.meanAccuracy ? b : a));
  const values = Cs.map((c) => Gs.map((gm) => at.get(`${c}|${gm}`)?.meanAccuracy ?? null));
  const bi = Cs.indexOf(best.log2C);
  const bj = Gs.indexOf(best.log2Gamma);
  let b = `<p>Mean cross-validated accuracy of every (C, gamma) point${g.folds ? ` (${g.folds}-fold)` : ''}${g.scope ? `; ${h(g.scope)}` : ''}. Best: <strong>C = ${h(pow2(best.log2C))}${best.log2Gamma !== null ? `, gamma = ${h(pow2(best.log2Gamma))}` : ''}</strong>, ${h(pct(best.meanAccuracy))} (outlined).</p>`;
  b += figure(
    heatMap({
      id: 'svm-grid',
      title: `SVM grid search: accuracy over C${Gs[0] !== null ? ' and gamma' : ''}`,
      description: `${g.points.length} grid points; accuracy from ${pct(Math.min(...g.points.map((p) => p.meanAccuracy)))} to ${pct(Math.max(...g.points.map((p) => p.meanAccuracy)))}; best at log2(C) = ${best.log2C}${best.log2Gamma !== null ? `, log2(gamma) = ${best.log2Gamma}` : ''} with ${pct(best.meanAccuracy)}.`,
      rowLabels: Cs.map((c) => pow2(c)),
      colLabels: Gs.map((gm) => (gm === null ? 'linear' : pow2(gm))),
      rowTitle: 'C',
      colTitle: Gs[0] !== null ? 'gamma' : 'kernel',
      values,
      texts: values.map((r) => r.map((v) => (v === null ? '' : (100 * v).toFixed(1)))),
      legendFormat: (v) => pct(v, 1),
      legendTitle: 'accuracy',
      highlight: bi >= 0 && bj >= 0 ? [[bi, bj]] : [],
    }),
  );
  return { id: 'grid', title: 'SVM grid search', body: b };
}

function mistakesSection(run: RunReport, d: DerivedReport, thumbs: Thumbnail[] | undefined): Section {
  const cw = d.confidentlyWrong;
  const title = 'Most confidently wrong images';
  if (!cw) return { id: 'mistakes', title, body: missing('No out-of-fold predictions were recorded.') };
  if (!cw.items.length) return { id: 'mistakes', title, body: `<p>${h(pathName(cw.path))}: no mistakes in ${h(num(cw.totalPredictions))} out-of-fold predictions.</p>` };
  let b = `<p>${h(pathName(cw.path))}: ${h(num(cw.totalWrong))} of ${h(num(cw.totalPredictions))} out-of-fold predictions are wrong; ${cw.order === 'confidence' ? `the ${cw.items.length} with the highest probability on the wrong class` : `the first ${cw.items.length} by file name (this path gives no probabilities)`}. Check them for label errors.</p>`;
  b += '<div class="thumbs">';
  cw.items.forEach((it, i) => {
    const t = thumbs?.[i];
    const alt = `${it.file}: true ${cls(run, it.label)}, predicted ${cls(run, it.predicted)}`;
    const img =
      t && 'dataUri' in t
        ? `<img src="${h(t.dataUri)}" width="${t.width}" height="${t.height}" alt="${h(alt)}">`
        : `<div class="noimg" role="img" aria-label="${h(alt)}">${h(t && 'error' in t ? 'image unavailable' : 'no thumbnail')}</div>`;
    b += `<figure class="thumb"${t && 'error' in t ? ` title="${h(t.error)}"` : ''}>${img}<figcaption>`;
    b += `<div>true <strong>${h(cls(run, it.label))}</strong></div><div>predicted <strong>${h(cls(run, it.predicted))}</strong>${it.confidence !== null ? ` <span class="conf">${h(pct(it.confidence))}</span>` : ''}</div>`;
    b += `<div class="file">${h(it.file)}</div><div class="note">fold ${h(String(it.fold + 1))}</div></figcaption></figure>`;
  });
  b += '</div>';
  return { id: 'mistakes', title, body: b };
}

function timingSection(run: RunReport, d: DerivedReport): Section {
  let b = '';
  if (d.throughput.length) {
    b += '<div class="plots">';
    b += figure(
      barPlot({
        id: 'timings',
        title: 'Wall time per stage',
        description: d.throughput.map((s) => `${s.name}: ${duration(s.ms)}${s.imagesPerSecond !== null ? `, ${rate(s.images, s.ms)}` : ''}`).join('; ') + '.',
        xLabel: 'seconds',
        format: (v, step) => (step === undefined ? sig(v / 1000, 3) : numAxis(v / 1000, step / 1000)),
        rows: d.throughput.map((s) => ({ label: s.name, value: s.ms, color: s.path ? PATH_COLORS[s.path] : '#6b7280' })),
      }),
    );
    b += '</div>';
    b += table(
      ['stage', 'path', 'time', 'images', 'images/s'],
      d.throughput.map((s) => [h(s.name), s.path ? `${swatch(s.path)}${h(PATH_SHORT[s.path])}` : '', h(duration(s.ms)), h(s.images === undefined ? MISSING : num(s.images)), h(rate(s.images, s.ms))]),
      [false, false, true, true, true],
    );
    if (run.timings?.totalMs !== undefined) b += `<p>Total: ${h(duration(run.timings.totalMs))}.</p>`;
  } else b += missing('No timings were recorded.');
  if (run.budget) {
    const bu = run.budget;
    b += '<h3>Budget</h3>';
    b += `<p>${bu.minutes === null ? 'No --budget was set' : `--budget ${h(sig(bu.minutes, 4))} min`}${bu.usedMinutes !== undefined ? `; used ${h(sig(bu.usedMinutes, 3))} min` : ''}.</p>`;
    b += bu.cuts.length ? `<p>What the budget cut:</p>${list(bu.cuts)}` : '<p>Nothing was cut.</p>';
  }
  const rt = run.runtime;
  b += '<h3>Runtime</h3>';
  if (rt) {
    const rows: [string, string][] = [['backend', `${rt.backend}${rt.backendReason ? ` (${rt.backendReason})` : ''}`]];
    if (rt.engine) rows.push(['engine', rt.engine]);
    if (rt.device) rows.push(['device', describeDevice(rt.device)]);
    if (rt.threads !== undefined) rows.push(['threads', String(rt.threads)]);
    for (const [k, v] of Object.entries(rt.versions ?? {})) rows.push([k, v]);
    if (rt.node) rows.push(['node', rt.node]);
    if (rt.platform) rows.push(['platform', rt.platform]);
    if (rt.cpu) rows.push(['cpu', `${rt.cpu}${rt.cores ? ` (${rt.cores} cores)` : ''}`]);
    if (rt.memoryGiB !== undefined) rows.push(['memory', `${sig(rt.memoryGiB, 3)} GiB`]);
    b += kvTable(rows.map(([k, v]) => [h(k), h(v)]));
  } else b += missing('No runtime information was recorded.');
  b += '<h3>Backbone</h3>';
  const bb = run.backbone;
  if (bb) {
    const rows: [string, string][] = [
      ['model', `${bb.name}${bb.alpha !== undefined ? ` (alpha ${bb.alpha})` : ''}`],
      ['weights', bb.weights],
      ['weights sha256', bb.weightsSha256],
      ['bottleneck layer', `${bb.layer} (pooling ${bb.pooling})`],
      ['input', `${bb.inputSize}x${bb.inputSize}, ${bb.crop}, preprocessing ${describePreprocess(bb.preprocessing)}${bb.tta === 'flip' ? ', flip TTA (mean with the mirror)' : ''}`],
      ['fingerprint', bb.fingerprint],
    ];
    b += kvTable(rows.map(([k, v]) => [h(k), k === 'weights sha256' || k === 'fingerprint' || k === 'weights' ? `<code>${h(v)}</code>` : h(v)]));
  } else b += missing('No backbone was recorded.');
  return { id: 'timings', title: 'Timings, runtime and backbone', body: b };
}

/** The sections of the report, in order (also used for the table of contents). */
export function buildSections(inp: HtmlInputs): Section[] {
  const { run, derived } = inp;
  return [
    decisionSection(run, derived),
    datasetSection(run, derived),
    accuracySection(run, derived),
    ...[candidatesSectionHtml(derived)].filter((s): s is Section => s !== null),
    pairedSection(run),
    confusionSection(run),
    learningSection(run),
    ...trustSectionsHtml(run),
    gridSection(run),
    mistakesSection(run, derived, inp.thumbnails),
    timingSection(run, derived),
  ];
}

/** The whole HTML document. */
export function renderHtml(inp: HtmlInputs): string {
  const { run } = inp;
  const sections = buildSections(inp);
  const title = `ftk report: ${run.dataset.root.split(/[\\/]/).filter(Boolean).pop() ?? run.dataset.root} (${PATH_SHORT[run.decision.chosen]})`;
  const meta: string[] = [];
  if (run.createdAt) meta.push(`run ${h(run.createdAt)}`);
  if (run.ftkVersion) meta.push(`ftk ${h(run.ftkVersion)}`);
  if (run.seed !== undefined && run.seed !== null) meta.push(`seed ${h(String(run.seed))}`);
  let body = `<header><h1>${h(title)}</h1>`;
  if (meta.length) body += `<p class="meta">${meta.join(' &middot; ')}</p>`;
  if (run.command?.length) body += `<p class="meta">Command: <code>${h(run.command.join(' '))}</code></p>`;
  body += `<nav aria-label="Sections"><ul>${sections.map((s) => `<li><a href="#${s.id}">${h(s.title)}</a></li>`).join('')}</ul></nav></header>`;
  for (const s of sections) body += `<section id="${s.id}" aria-labelledby="${s.id}-h"><h2 id="${s.id}-h">${h(s.title)}</h2>${s.body}</section>`;
  body += `<footer>Rendered by ftk ${h(inp.ftkVersion)} at ${h(inp.generatedAt)} from <code>run.json</code> (format ${h(run.format)} v${h(String(run.formatVersion))}). Self-contained: no scripts, no network.</footer>`;
  return (
    '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">' +
    `<meta http-equiv="Content-Security-Policy" content="${h(REPORT_CSP)}">` +
    '<meta name="viewport" content="width=device-width, initial-scale=1">' +
    `<meta name="generator" content="ftk ${h(inp.ftkVersion)}">` +
    `<title>${h(title)}</title><style>${CSS}</style></head>\n<body><main>${body}</main></body></html>\n`
  );
}
