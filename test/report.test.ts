/** Reports: the run record's validation, the SVG/HTML/Markdown builders, the record builders, `ftk report`. */
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, test } from 'node:test';
import sharp from 'sharp';
import type { CrossValidationResult } from '../src/classify/search.js';
import { reportCommand, runReport, type ReportContext } from '../src/cli/commands/report.js';
import { RunReportError, validateRunReport, type LearningCurve, type RunReport } from '../src/formats/run_report.js';
import { deriveReport } from '../src/report/derive.js';
import { decimalsFor, duration, escapeHtml, escapeMarkdown, interval, num, numAxis, pct, pctAxis, pp, ppInterval, rate, sig } from '../src/report/format.js';
import { renderHtml, REPORT_CSP } from '../src/report/html.js';
import { renderMarkdown } from '../src/report/markdown.js';
import { differenceInterval95, estimateCrossover, foldMacroF1, macroF1Present, pairedComparison, pathResultFromCv, pathResultFromPredictions } from '../src/report/build.js';
import { readRunReport, renderReport, writeReport } from '../src/report/report.js';
import { crossoverInRange } from '../src/auto/curves.js';
import { DECISION_RULE } from '../src/auto/decision.js';
import { heatMap, intervalPlot, linePlot, logTicks, niceTicks } from '../src/report/svg.js';
import { tempDir } from './helpers/images.js';
import { parseContext } from './helpers/parse.js';

const FIXTURES = path.resolve('test/fixtures/report');
const load = async (name: string): Promise<RunReport> => validateRunReport(JSON.parse(await readFile(path.join(FIXTURES, name), 'utf8')), name);
const full = await load('full.json');
const partial = await load('partial.json');
const svmOnly = await load('svm_only.json');
const { dir: tmp, cleanup } = await tempDir('ftk-report-');
after(cleanup);

const html = (run: RunReport) => renderHtml({ run, derived: deriveReport(run), generatedAt: '2025-01-01T00:00:00Z', ftkVersion: '0.0.0-test' });
const md = (run: RunReport) => renderMarkdown({ run, derived: deriveReport(run), generatedAt: '2025-01-01T00:00:00Z', ftkVersion: '0.0.0-test' });
const plotIds = (page: string) => [...page.matchAll(/<svg [^>]*data-plot="([^"]+)"/g)].map((m) => m[1]);
const clone = <T>(x: T): T => JSON.parse(JSON.stringify(x)) as T;

test('escapeHtml escapes the five HTML-significant characters', () => {
  assert.equal(escapeHtml(`<a href="x">Tom & 'Jerry'</a>`), '&lt;a href=&quot;x&quot;&gt;Tom &amp; &#39;Jerry&#39;&lt;/a&gt;');
  assert.equal(escapeHtml('&amp;'), '&amp;amp;', 'already-escaped text is escaped again (it is data, not markup)');
});

test('escapeMarkdown keeps table cells intact and HTML inert', () => {
  assert.equal(escapeMarkdown('a|b'), 'a\\|b');
  assert.equal(escapeMarkdown('<b>x</b>'), '&lt;b>x&lt;/b>', 'no tag can open');
  assert.equal(escapeMarkdown('Tom & Jerry &amp; &#39;'), 'Tom & Jerry &amp;amp; &amp;#39;', 'only an & that would read as an entity is escaped');
  assert.equal(escapeMarkdown('*bold* _it_ [l](u) `c` ~~s~~'), '\\*bold\\* \\_it\\_ \\[l\\](u) \\`c\\` \\~\\~s\\~\\~');
  assert.equal(escapeMarkdown('+3.3 pp (95% interval)'), '+3.3 pp (95% interval)', 'ordinary text stays readable');
  assert.equal(escapeMarkdown('two\nlines'), 'two lines');
});

test('numbers are formatted one way everywhere', () => {
  assert.equal(pct(0.93456), '93.5%');
  assert.equal(pct(1), '100.0%');
  assert.equal(pct(Number.NaN), 'n/a');
  assert.equal(pct(undefined), 'n/a');
  assert.equal(interval([0.9, 0.951]), '90.0% - 95.1%');
  assert.equal(pp(0.0234), '+2.3 pp');
  assert.equal(pp(-0.1), '-10.0 pp');
  assert.equal(pp(-0.00001), '0.0 pp', 'no "-0.0"');
  assert.equal(ppInterval([-0.085, 0.151]), '-8.5 to +15.1 pp');
  assert.equal(duration(850), '850 ms');
  assert.equal(duration(1840), '1.84 s');
  assert.equal(duration(12_345), '12.3 s');
  assert.equal(duration(125_000), '2 min 5 s');
  assert.equal(duration(4_000_000), '1 h 7 min');
  assert.equal(rate(60, 5300), '11.3 img/s');
  assert.equal(rate(undefined, 5300), 'n/a');
  assert.equal(num(1234567), '1,234,567');
  assert.equal(sig(0.0078125, 4), '0.007813');
  assert.equal(sig(1e-9), '1.00e-9');
});

test('niceTicks and logTicks give round tick values', () => {
  assert.deepEqual(niceTicks(0.3, 0.98, 5), { ticks: [0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1], domain: [0.3, 1], step: 0.1 });
  assert.deepEqual(niceTicks(0.788, 0.962, 5), { ticks: [0.75, 0.8, 0.85, 0.9, 0.95, 1], domain: [0.75, 1], step: 0.05 });
  assert.deepEqual(niceTicks(0, 20, 5).ticks, [0, 5, 10, 15, 20]);
  assert.deepEqual(niceTicks(5, 5).domain.length, 2, 'a single value still gives a domain');
  assert.deepEqual(logTicks(4, 60), [5, 10, 20, 50]);
  assert.deepEqual(logTicks(8, 6000), [10, 100, 1000]);
});

test('axis ticks show as many decimals as their spacing needs', () => {
  assert.equal(decimalsFor(0.5), 1);
  assert.equal(decimalsFor(0.02), 2);
  assert.equal(decimalsFor(5), 0);
  assert.equal(pctAxis(0.875, 0.005), '87.5%', 'ticks 0.5% apart');
  assert.equal(pctAxis(0.8, 0.1), '80%');
  assert.equal(pctAxis(0.8), '80.0%', 'a value, not a tick');
  assert.equal(numAxis(0.2325, 0.0005), '0.2325');
  const svg = linePlot({
    id: 'f',
    title: 't',
    description: 'd',
    xLabel: 'fold',
    yLabel: 'accuracy',
    xFormat: (v) => String(v),
    yFormat: pctAxis,
    xTicks: [1, 2, 3],
    series: [{ name: 's', color: '#000', points: [0.85, 0.875, 0.85].map((y, i) => ({ x: i + 1, y })) }],
  });
  const ticks = [...svg.matchAll(/text-anchor="end" fill="#333">([^<]+)</g)].map((m) => m[1]);
  assert.ok(ticks.length >= 3);
  assert.equal(new Set(ticks).size, ticks.length, `no two y ticks read the same: ${ticks.join(', ')}`);
});

test('SVG plots have a title, a text alternative and escaped labels', () => {
  const svg = intervalPlot({
    id: 'acc',
    title: 'Accuracy <all>',
    description: 'SVM 90% & more',
    xLabel: 'accuracy',
    format: (v) => pct(v, 0),
    clip: [0, 1],
    rows: [
      { label: '<script>x</script>', value: 0.9, lo: 0.85, hi: 0.95 },
      { label: 'b', value: 0.8 },
    ],
  });
  assert.match(svg, /^<svg [^>]*role="img" aria-labelledby="acc-title acc-desc"/);
  assert.match(svg, /<title id="acc-title">Accuracy &lt;all&gt;<\/title><desc id="acc-desc">SVM 90% &amp; more<\/desc>/);
  assert.ok(!svg.includes('<script>'), 'labels are escaped');
  assert.ok(svg.includes('&lt;script&gt;x&lt;/script&gt;'));
  assert.match(svg, />90% \[85%, 95%\]</, 'value text with its interval');
  assert.match(svg, />accuracy</, 'axis label');
  assert.ok(/>80%</.test(svg) && />95%</.test(svg), 'tick labels formatted as percentages');
  assert.ok(!/NaN|undefined|Infinity/.test(svg));
});

test('SVG builders draw "No data" instead of failing on empty input', () => {
  for (const svg of [
    intervalPlot({ id: 'a', title: 't', description: 'd', xLabel: 'x', format: String, rows: [] }),
    linePlot({ id: 'b', title: 't', description: 'd', xLabel: 'x', yLabel: 'y', xFormat: String, yFormat: String, series: [{ name: 's', color: '#000', points: [] }] }),
    heatMap({ id: 'c', title: 't', description: 'd', rowLabels: [], colLabels: [], rowTitle: 'r', colTitle: 'c', values: [], legendFormat: String, legendTitle: 'l' }),
  ]) {
    assert.match(svg, /No data to plot\./);
    assert.match(svg, /<title id="[abc]-title">t<\/title>/);
    assert.ok(!/NaN/.test(svg));
  }
});

test('heat map writes cell values, outlines the highlighted cell and puts the colour scale in a legend', () => {
  const svg = heatMap({
    id: 'cm',
    title: 'Confusion',
    description: 'd',
    rowLabels: ['a', 'b'],
    colLabels: ['a', 'b'],
    rowTitle: 'true class',
    colTitle: 'predicted class',
    values: [
      [0.9, 0.1],
      [null, 1],
    ],
    texts: [
      ['9', '1'],
      ['', '10'],
    ],
    colorDomain: [0, 1],
    legendFormat: (v) => pct(v, 0),
    legendTitle: 'share',
    highlight: [[1, 1]],
  });
  assert.match(svg, />9<\/text>/);
  assert.match(svg, />10<\/text>/);
  assert.match(svg, /fill="#d9d9d9"/, 'a missing value is grey');
  assert.match(svg, /stroke="#111" stroke-width="3"/, 'highlight outline');
  assert.match(svg, /<linearGradient id="cm-grad"/);
  assert.match(svg, />100%<\/text>/);
  assert.match(svg, />true class</);
  assert.match(svg, />predicted class</);
});

test('line plot on a log axis marks the crossover', () => {
  const svg = linePlot({
    id: 'lc',
    title: 'Learning curves',
    description: 'd',
    xLabel: 'training images',
    yLabel: 'accuracy',
    xScale: 'log',
    xFormat: (v) => num(v),
    yFormat: (v) => pct(v, 0),
    yClip: [0, 1],
    markers: [{ x: 19, label: 'crossover ~19' }],
    series: [{ name: 'SVM', color: '#0072B2', points: [5, 12, 24, 48].map((x, i) => ({ x, y: 0.6 + i * 0.08, lo: 0.55 + i * 0.08, hi: 0.65 + i * 0.08 })) }],
  });
  assert.match(svg, /<polygon /, 'interval band');
  assert.match(svg, /<polyline /);
  assert.equal(svg.match(/<circle /g)?.length, 4 + 1, 'four points and one legend marker');
  assert.match(svg, />crossover ~19</);
  assert.match(svg, /stroke-dasharray="5 4"/);
  assert.ok(/>10<\/text>/.test(svg) && />20<\/text>/.test(svg), 'log ticks');
});

test('the run record: the fixtures validate; bad records are refused with the field named', () => {
  assert.equal(full.paths?.length, 3);
  assert.equal(partial.paths, undefined);
  const bad = (mut: (r: any) => void) => {
    const r = clone(full) as any;
    mut(r);
    return () => validateRunReport(r, 'run.json');
  };
  assert.throws(bad((r) => delete r.dataset), (e: unknown) => e instanceof RunReportError && /dataset is missing/.test(e.message) && e.code === 'RUN_REPORT_INVALID');
  assert.throws(bad((r) => delete r.decision), /decision is missing/);
  assert.throws(bad((r) => (r.decision.chosen = 'magic')), /decision.chosen must be one of \[svm, finetune, scratch, ensemble\]; received "magic"/);
  assert.throws(bad((r) => r.dataset.counts.pop()), /dataset.counts must hold 3 numbers/);
  assert.throws(bad((r) => r.paths[0].confusion.pop()), /paths\[0\].confusion must be 3 x 3/);
  assert.throws(bad((r) => (r.paths[1].predictions[4].predicted = 3)), /paths\[1\].predictions\[4\]: label and predicted must be class indices in \[0, 2\]/);
  assert.throws(bad((r) => (r.paths[1].predictions[0].probabilities = [1])), /probabilities must hold 3 numbers/);
  assert.throws(bad((r) => (r.format = 'other')), /format is "other", expected "ftk-run"/);
  assert.throws(
    bad((r) => (r.formatVersion = 2)),
    (e: unknown) => e instanceof RunReportError && e.code === 'RUN_REPORT_VERSION' && /Update ftk/.test(e.suggestion ?? ''),
  );
});

test('HTML report: self-contained, no scripts, every file and class name escaped', () => {
  const page = html(full);
  assert.ok(page.startsWith('<!DOCTYPE html>'));
  assert.ok(page.includes(`<meta http-equiv="Content-Security-Policy" content="${escapeHtml(REPORT_CSP)}">`));
  assert.ok(!/<script/i.test(page), 'no script element (the skipped file named <script>... is text)');
  assert.ok(page.includes('cat/&lt;script&gt;alert(1)&lt;/script&gt;.jpg'));
  assert.ok(!/<link|@import|url\((?!#)|src="(?!data:)|href="(?!#)/i.test(page), 'nothing is loaded: only data: images, in-page links and gradients');
  const external = [...page.matchAll(/https?:\/\/[^\s"'<]+/g)].map((m) => m[0]);
  assert.deepEqual([...new Set(external)], ['http://www.w3.org/2000/svg'], 'the SVG namespace is the only URL');
  assert.ok(page.includes('dog &amp; &lt;wolf&gt;') && page.includes('bird &quot;tweety&quot;'));
  assert.ok(!page.includes('dog & <wolf>') && !page.includes('bird "tweety"'), 'no raw class name anywhere');
  assert.ok(!/NaN|undefined|Infinity|\[object Object\]/.test(page));
  for (const id of ['decision', 'dataset', 'accuracy', 'paired', 'confusion', 'learning-curves', 'grid', 'mistakes', 'timings']) {
    assert.ok(page.includes(`<section id="${id}"`), `section ${id}`);
  }
});

test('HTML report of a full record has every plot, each with a title and a description', () => {
  const page = html(full);
  assert.deepEqual(plotIds(page), ['class-counts', 'accuracy', 'macro-f1', 'folds', 'paired-differences', 'confusion-svm', 'confusion-finetune', 'confusion-scratch', 'learning-curves', 'svm-grid', 'timings']);
  for (const id of plotIds(page)) {
    assert.match(page, new RegExp(`<title id="${id}-title">[^<]+</title><desc id="${id}-desc">[^<]+</desc>`), id);
  }
  // Numbers as the record holds them.
  assert.ok(page.includes('86.7%') && page.includes('90.0%') && page.includes('60.0%'), 'mean accuracies');
  assert.ok(page.includes('+3.3 pp') && page.includes('-8.5 to +15.1 pp'), 'paired difference and interval');
  assert.ok(page.includes('crossover ~20'), 'crossover marked on the learning curves');
  assert.ok(page.includes('C = 2^3, gamma = 2^-7'), 'best grid point');
  assert.ok(page.includes('fine-tuning epochs 20 -&gt; 8'), 'budget cuts');
  assert.ok(page.includes('11.3 img/s'), 'images/s');
  assert.match(page, /within the paired 95% interval: the cheaper path was preferred/);
});

test('a record with only the dataset and the decision still renders every section', () => {
  const page = html(partial);
  assert.deepEqual(plotIds(page), ['class-counts']);
  assert.match(page, /No path was cross-validated in this run\./);
  assert.match(page, /No learning curve was measured in this run\./);
  assert.match(page, /No SVM grid search was recorded\./);
  assert.match(page, /No out-of-fold predictions were recorded\./);
  assert.match(page, /No timings were recorded\./);
  assert.match(page, /No prior was recorded\./);
  assert.ok(!/NaN|undefined|Infinity/.test(page));
  const text = md(partial);
  assert.match(text, /\*\*ftk chose: SVM on bottleneck features\*\*/);
  assert.match(text, /_No learning curve was measured in this run\._/);
  assert.ok(!/NaN|undefined/.test(text));
});

test('any optional part can be left out, alone or all at once', () => {
  const optional = ['createdAt', 'ftkVersion', 'command', 'seed', 'folds', 'paths', 'comparisons', 'learningCurves', 'grid', 'timings', 'runtime', 'backbone', 'budget', 'bundle', 'warnings'] as const;
  for (const key of optional) {
    const r = clone(full);
    delete r[key];
    const page = html(validateRunReport(r));
    assert.ok(!/NaN|undefined|Infinity/.test(page), `without ${key}`);
    assert.ok(!/NaN|undefined|Infinity/.test(md(r)), `markdown without ${key}`);
  }
  const r = clone(full);
  for (const p of r.paths!) {
    delete p.confusion;
    delete p.perClass;
    delete p.predictions;
    delete p.foldMacroF1;
    delete p.macroF1;
  }
  delete r.learningCurves!.crossovers;
  r.learningCurves!.curves = r.learningCurves!.curves.map((c) => ({ ...c, points: c.points.slice(0, 1) }));
  r.grid!.points = r.grid!.points.filter((p) => p.log2Gamma === -7).map((p) => ({ ...p, log2Gamma: null }));
  delete r.grid!.best;
  const page = html(validateRunReport(r));
  assert.ok(!/NaN|undefined|Infinity/.test(page));
  assert.deepEqual(plotIds(page), ['class-counts', 'accuracy', 'folds', 'paired-differences', 'learning-curves', 'svm-grid', 'timings']);
  assert.match(page, /No confusion matrix was recorded\./);
  assert.match(page, /linear/, 'a linear grid is one column');
});

test('many classes: plots shrink their cells and keep every label', () => {
  const k = 40;
  const r = clone(partial);
  r.dataset.classes = Array.from({ length: k }, (_, i) => `class <${i}>`);
  r.dataset.counts = Array.from({ length: k }, (_, i) => 10 + i);
  const labels = Array.from({ length: 4 * k }, (_, i) => i % k);
  r.paths = [pathResultFromPredictions('svm', labels.map((y, i) => (i % 7 === 0 ? (y + 1) % k : y)), k, { files: labels.map((_, i) => `f${i}.png`), labels, folds: labels.map((_, i) => i % 4) })];
  const page = html(validateRunReport(r));
  const svg = /<svg [^>]*data-plot="confusion-svm"[\s\S]*?<\/svg>/.exec(page)![0];
  assert.equal(svg.match(/<rect x="[^"]+" y="[^"]+" width="14" height="14"/g)?.length, k * k, 'one 14 px cell per pair');
  assert.ok(svg.includes('class &lt;39&gt;'));
  const bars = /<svg [^>]*data-plot="class-counts"[\s\S]*?<\/svg>/.exec(page)![0];
  assert.equal(bars.match(/<rect x=/g)?.length, k, 'one bar per class');
});

test('SVM-only record without probabilities lists mistakes by file name', () => {
  const d = deriveReport(svmOnly);
  assert.equal(d.confidentlyWrong?.order, 'file');
  const files = d.confidentlyWrong!.items.map((i) => i.file);
  assert.deepEqual(files, [...files].sort());
  assert.ok(d.confidentlyWrong!.items.every((i) => i.confidence === null));
  const page = html(svmOnly);
  assert.deepEqual(plotIds(page), ['class-counts', 'accuracy', 'macro-f1', 'folds', 'confusion-svm', 'svm-grid']);
  assert.match(page, /by file name \(this path gives no probabilities\)/);
});

test('derived numbers: mistakes by confidence, macro-F1 intervals from the folds, imbalance', () => {
  const d = deriveReport(full, { maxWrong: 5 });
  assert.equal(d.confidentlyWrong?.path, 'svm', 'the chosen path');
  assert.equal(d.confidentlyWrong?.order, 'confidence');
  assert.equal(d.confidentlyWrong?.items.length, 5);
  assert.equal(d.confidentlyWrong?.totalWrong, 8);
  const conf = d.confidentlyWrong!.items.map((i) => i.confidence!);
  assert.deepEqual(conf, [...conf].sort((a, b) => b - a));
  assert.ok(d.confidentlyWrong!.items.every((i) => i.label !== i.predicted));
  assert.equal(d.imbalance, 1);
  assert.equal(d.totalImages, 60);
  assert.equal(d.bestPath, 'finetune');
  const f1 = d.macroF1.finetune!;
  assert.equal(f1.folds?.length, 5);
  assert.ok(f1.ci95 && f1.ci95[0] <= f1.value! && f1.value! <= f1.ci95[1] + 1e-9);
  assert.ok(Math.abs(f1.value! - f1.folds!.reduce((a, b) => a + b, 0) / 5) < 1e-12, 'the mean over folds, matching its interval');
  assert.equal(f1.pooled, full.paths![1].macroF1);
  // Without stored per-fold macro-F1 it is recomputed from the predictions.
  const noFolds = clone(full);
  delete noFolds.paths![1].foldMacroF1;
  assert.deepEqual(deriveReport(noFolds).macroF1.finetune!.folds, f1.folds);
});

test('macro-F1 averages the classes present in a fold, as scikit-learn does', () => {
  // Fold 0 holds classes 0 and 1 only, both right: macro-F1 1, not 2/3 (class 2 absent).
  const preds = [
    { file: 'a', label: 0, predicted: 0, fold: 0 },
    { file: 'b', label: 1, predicted: 1, fold: 0 },
    { file: 'c', label: 2, predicted: 0, fold: 1 },
    { file: 'd', label: 0, predicted: 0, fold: 1 },
  ];
  const f = foldMacroF1(preds, 3);
  assert.equal(f[0], 1);
  // Fold 1: class 0 precision 1/2 recall 1 -> F1 2/3; class 2 F1 0 -> mean 1/3.
  assert.ok(Math.abs(f[1] - 1 / 3) < 1e-12);
  assert.equal(macroF1Present([[0, 0], [0, 0]]), 0);
});

test('pathResultFromPredictions: per-fold accuracy, pooled confusion and metrics', () => {
  const files = ['a1', 'a2', 'b1', 'b2'];
  const r = pathResultFromPredictions('finetune', [0, 1, 1, 1], 2, { files, labels: [0, 0, 1, 1], folds: [0, 1, 0, 1] });
  assert.deepEqual(r.foldAccuracies, [1, 0.5]);
  assert.equal(r.meanAccuracy, 0.75);
  assert.deepEqual(r.confusion, [
    [1, 1],
    [0, 2],
  ]);
  assert.ok(Math.abs(r.perClass![1].precision - 2 / 3) < 1e-12);
  assert.equal(r.perClass![0].recall, 0.5);
  assert.equal(r.predictions![1].file, 'a2');
  assert.throws(() => pathResultFromPredictions('svm', [0, 1], 2, { files, labels: [0, 0, 1, 1], folds: [0, 1, 0, 1] }), /files has 4 entries, labels has 4 entries, folds has 4 entries, but there are 2 samples/);
});

test('pathResultFromCv places the CV confusion in dataset class indices and records the predictions', () => {
  // A CV over classes 0 and 2 of a 3-class dataset (class 1 absent from these features).
  const cv = {
    classes: [0, 2],
    folds: 2,
    repeats: 1,
    shuffle: true,
    seed: 0,
    foldAccuracies: [1, 0.5],
    meanAccuracy: 0.75,
    stdAccuracy: 0.35,
    ci95: [0, 1] as [number, number],
    macroF1: 0.73,
    perClass: [],
    confusion: [
      [2, 0],
      [1, 1],
    ],
    predictions: [0, 0, 0, 2],
    gammas: [0.5, 0.5],
    params: { kernel: 'rbf', C: 2, scaler: 'standardize' },
    elapsedMs: 12,
  } as unknown as CrossValidationResult;
  const r = pathResultFromCv('svm', cv, 3, { predictions: { files: ['a', 'b', 'c', 'd'], labels: [0, 0, 2, 2], folds: [0, 1, 0, 1] } });
  assert.deepEqual(r.confusion, [
    [2, 0, 0],
    [0, 0, 0],
    [1, 0, 1],
  ]);
  assert.equal(r.params?.gamma, 0.5);
  assert.equal(r.predictions?.[2].predicted, 0);
  assert.equal(r.predictions?.[3].predicted, 2);
  assert.equal(r.foldMacroF1?.length, 2);
  assert.doesNotThrow(() => validateRunReport({ ...clone(partial), dataset: { ...partial.dataset, classes: ['a', 'b', 'c'], counts: [2, 0, 2] }, paths: [r] }));
});

test('pairedComparison: differences fold by fold with an unclipped t interval', () => {
  const a = pathResultFromPredictions('finetune', [0, 0, 1, 1, 0, 1], 2, { files: ['1', '2', '3', '4', '5', '6'], labels: [0, 0, 1, 1, 0, 1], folds: [0, 0, 1, 1, 2, 2] });
  const b = { ...a, path: 'svm' as const, foldAccuracies: [0.5, 1, 1] };
  const c = pairedComparison(a, b);
  assert.deepEqual(c.differences, [0.5, 0, 0]);
  assert.ok(Math.abs(c.meanDifference - 1 / 6) < 1e-12);
  // sd = 0.288675, t(0.975, 2) = 4.303 -> half-width 4.303 * 0.288675 / sqrt(3) = 0.71717
  assert.ok(Math.abs(c.ci95[0] - (1 / 6 - 0.71717)) < 1e-4 && c.ci95[0] < 0, 'low end below 0, not clipped');
  assert.deepEqual(differenceInterval95([0.1]), [0.1, 0.1]);
  assert.throws(() => pairedComparison(a, { ...b, foldAccuracies: [1] }), /same folds: finetune has 3 fold accuracies, svm has 1/);
});

test('estimateCrossover is the old name of crossoverInRange: no extrapolation any more', () => {
  const curve = (path: 'svm' | 'finetune', accs: number[]): LearningCurve => ({ path, points: [10, 100, 1000].map((n, i) => ({ fraction: n / 1000, trainSize: n, meanAccuracy: accs[i] })) });
  // A closing gap that the old estimate extrapolated to 10,000 images: now no crossover.
  const a = curve('svm', [0.9, 0.9, 0.9]);
  const b = curve('finetune', [0.6, 0.7, 0.8]);
  assert.deepEqual(estimateCrossover(a, b), crossoverInRange(a, b));
  assert.equal(estimateCrossover(a, b).trainSize, null);
});

test('Markdown report: tables keep their shape whatever the names hold', () => {
  const r = clone(full);
  r.dataset.classes[0] = 'c|a|t';
  const text = md(r);
  assert.ok(text.includes('c\\|a\\|t'));
  assert.ok(text.includes('dog & &lt;wolf>') && !text.includes('<wolf>'), 'HTML in names is inert');
  for (const block of text.split('\n\n').filter((b) => b.startsWith('| '))) {
    const cells = block.split('\n').map((row) => row.replace(/\\\|/g, '').split('|').length);
    assert.ok(cells.every((c) => c === cells[0]), `rows of one table have one width:\n${block}`);
  }
  assert.match(text, /\| fold \| SVM \| fine-tune \| scratch \| fine-tune - SVM \|/);
  assert.match(text, /\*\*86\.0\*\*/, 'best grid cell in bold');
  assert.match(text, /fine-tune overtakes SVM at about 20 training images \(interpolated between 12 and 24 training images, fractions 0\.25 and 0\.5\)/);
  assert.match(text, /scratch vs fine-tune: no crossover in the measured range, 5 to 48 training images: fine-tune is ahead or level at every measured size/);
});

test('a record with candidates renders the Candidates table and the decision rule; an ensemble path renders like the others', async () => {
  const r = clone(full);
  r.decision.rule = DECISION_RULE;
  r.decision.excluded = [{ id: 'scratch', why: 'Small CNN completed 1 outer fold (fold 2); of the 5 folds SVM and Fine-tuning both completed it shares only fold 2: <no interval>.' }];
  r.candidates = [
    { id: 'ft-lr1e-3', path: 'finetune', label: 'fine-tune, lr 1e-3', config: { learningRate: 0.001, freeze: 14 }, innerScores: [0.6, null, null, null, null], picked: 0, ms: 60_000, pruned: '12 points behind the best after 3 epochs' },
    { id: 'svm-C2', path: 'svm', label: 'RBF SVM, C = 2^1', config: { kernel: 'rbf', C: 2, gamma: 0.0078125 }, innerScores: [0.84, 0.87, 0.83, 0.85, 0.86], picked: 2, outerAccuracies: [null, 0.9, null, null, 0.85], ms: 900 },
    { id: 'svm-C8', path: 'svm', label: 'RBF SVM <C = 2^3>', config: { kernel: 'rbf', C: 8, gamma: 0.0078125 }, innerScores: [0.85, 0.86, 0.84, 0.87, 0.85], picked: 3, outerAccuracies: [0.9, null, 0.8, 0.85, null], ms: 1200 },
    { id: 'ft-lr1e-4', path: 'finetune', label: 'fine-tune, lr 1e-4', config: { learningRate: 0.0001, freeze: 14 }, innerScores: [0.9, 0.91, 0.88, 0.9, 0.92], picked: 5, outerAccuracies: [0.9, 0.92, 0.85, 0.88, 0.95], ms: 400_000, capHit: 'epoch cap 30 reached in folds 2, 4' },
  ];
  r.paths!.push({ ...clone(r.paths![1]), path: 'ensemble', label: 'mean of the calibrated probabilities' });
  r.decision.chosen = 'ensemble';
  const run = validateRunReport(r);
  const d = deriveReport(run);
  // Grouped by path in order of appearance, most picked first.
  assert.deepEqual(d.candidates.map((c) => c.id), ['ft-lr1e-4', 'ft-lr1e-3', 'svm-C8', 'svm-C2']);
  assert.ok(Math.abs(d.candidates[2].meanInnerScore! - 0.854) < 1e-12 && Math.abs(d.candidates[2].meanOuterAccuracy! - 0.85) < 1e-12);
  const page = html(run);
  assert.ok(!/NaN|undefined|Infinity|\[object Object\]/.test(page));
  assert.match(page, /<li><a href="#candidates">Candidates<\/a><\/li>/);
  const section = /<section id="candidates"[\s\S]*?<\/section>/.exec(page)![0];
  assert.match(section, /<th>path<\/th><th>candidate<\/th><th>settings<\/th><th class="n">mean inner score<\/th><th class="n">picked<\/th><th class="n">outer accuracy where picked<\/th><th class="n">time<\/th><th>pruned \/ cap<\/th>/);
  assert.ok(section.includes('RBF SVM &lt;C = 2^3&gt;'), 'labels escaped');
  assert.match(section, /<td class="n">85\.4%<\/td><td class="n">3 of 5<\/td><td class="n">85\.0% \(3 folds\)<\/td><td class="n">1\.20 s<\/td>/);
  assert.match(section, /<td class="n">60\.0% \(1 of 5 folds\)<\/td><td class="n">0 of 5<\/td><td class="n">n\/a<\/td><td class="n">1 min 0 s<\/td><td>pruned: 12 points behind the best after 3 epochs<\/td>/);
  assert.ok(section.includes('epoch cap 30 reached in folds 2, 4') && section.includes('<code>kernel=rbf, C=8, gamma=0.007813</code>'));
  assert.ok(page.includes(`<p class="rule"><strong>Decision rule.</strong> ${escapeHtml(DECISION_RULE)}</p>`));
  assert.ok(page.includes('shares only fold 2: &lt;no interval&gt;.'), 'excluded contender, escaped');
  assert.ok(page.includes('<span class="swatch" style="background:#CC79A7"></span>Ensemble of SVM and fine-tuning <strong>(chosen)</strong>'));
  const text = md(run);
  assert.match(text, /## Candidates\n\n[^\n]+\n\n\| path \| candidate \| settings \| mean inner score \| picked \| outer accuracy where picked \| time \| pruned \/ cap \|/);
  assert.match(text, /\| SVM \| \*\*RBF SVM &lt;C = 2\^3>\*\* \| kernel=rbf, C=8, gamma=0\.007813 \| 85\.4% \| 3 of 5 \| 85\.0% \(3 folds\) \| 1\.20 s \|  \|/);
  assert.ok(text.includes(`**Decision rule.** ${escapeMarkdown(DECISION_RULE)}`));
  assert.match(text, /\*\*Not compared\*\* \(too few folds in common\):\n\n- Small CNN completed 1 outer fold/);
  for (const block of text.split('\n\n').filter((b) => b.startsWith('| '))) {
    const widths = block.split('\n').map((row) => row.replace(/\\\|/g, '').split('|').length);
    assert.ok(widths.every((w) => w === widths[0]), `rows of one table have one width:\n${block}`);
  }
  assert.equal((await renderReport(run, { generatedAt: 'T' })).json.derived.candidates.length, 4, 'report.json carries the summaries');
  // Records without candidates (all records before issue 14) have no such section.
  assert.ok(!html(full).includes('id="candidates"') && !md(full).includes('## Candidates'));
});

test('the run record: candidates and the decision rule are checked when present', () => {
  const r = clone(full) as any;
  const good = { id: 'svm-C8', path: 'svm', label: 'x', config: { C: 8 }, innerScores: [0.8, 0.8, 0.8, 0.8, null], picked: 1, ms: 5 };
  assert.doesNotThrow(() => validateRunReport({ ...r, candidates: [good], decision: { ...r.decision, rule: 'r', excluded: [{ id: 'a', why: 'b' }] } }));
  const bad = (c: object, what: RegExp) => assert.throws(() => validateRunReport({ ...r, candidates: [{ ...good, ...c }] }), what);
  bad({ innerScores: [0.8] }, /candidates\[0\]\.innerScores must hold 5 entries \(one per outer fold\); it has 1/);
  bad({ path: 'magic' }, /candidates\[0\]\.path must be one of \[svm, finetune, scratch, ensemble\]; received "magic"/);
  bad({ picked: 6 }, /candidates\[0\]\.picked must be a count of outer folds in \[0, 5\]/);
  bad({ outerAccuracies: [1] }, /candidates\[0\]\.outerAccuracies must be a list of numbers or null, one per outer fold \(5\)/);
  bad({ config: { C: [8] } }, /candidates\[0\]\.config must be an object of strings, numbers and booleans/);
  assert.throws(() => validateRunReport({ ...r, decision: { ...r.decision, excluded: [{ id: 'a' }] } }), /decision\.excluded must be a list of \{id, why\}/);
  assert.throws(() => validateRunReport({ ...r, decision: { ...r.decision, rule: 3 } }), /decision\.rule must be a string/);
});

async function writeImages(root: string, run: RunReport, except: Set<string>): Promise<void> {
  const colors = [
    [200, 120, 60],
    [80, 140, 200],
    [90, 180, 90],
  ];
  for (const p of run.paths![0].predictions!) {
    if (except.has(p.file)) continue;
    const f = path.join(root, p.file);
    await mkdir(path.dirname(f), { recursive: true });
    const [r, g, b] = colors[p.label];
    await sharp({ create: { width: 160, height: 120, channels: 3, background: { r, g, b } } }).png().toFile(f);
  }
}

test('writeReport writes the three files; thumbnails are small inline JPEGs; a missing image is a warning', async () => {
  const runDir = path.join(tmp, 'run-full');
  const images = path.join(tmp, 'images');
  await mkdir(runDir, { recursive: true });
  await writeFile(path.join(runDir, 'run.json'), JSON.stringify(full));
  const top = deriveReport(full).confidentlyWrong!.items[0].file;
  await writeImages(images, full, new Set([top]));
  const warnings: string[] = [];
  const r = await writeReport(runDir, { imageRoot: images, onWarning: (m) => warnings.push(m), generatedAt: '2025-02-03T04:05:06Z' });
  assert.equal(r.html, path.join(runDir, 'report.html'));
  const page = await readFile(r.html, 'utf8');
  const thumbs = [...page.matchAll(/<img src="data:image\/jpeg;base64,([^"]+)" width="(\d+)" height="(\d+)"/g)];
  assert.equal(thumbs.length, 7, '8 mistakes, one image missing');
  for (const [, b64, w, h] of thumbs) {
    const meta = await sharp(Buffer.from(b64, 'base64')).metadata();
    assert.equal(meta.format, 'jpeg');
    assert.deepEqual([meta.width, meta.height], [Number(w), Number(h)]);
    assert.equal(Math.max(meta.width!, meta.height!), 96);
  }
  assert.equal(page.match(/class="noimg"/g)?.length, 1);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0], /1 of 8 thumbnails could not be made \(first: image not found at /);
  const json = JSON.parse(await readFile(r.json, 'utf8'));
  assert.equal(json.format, 'ftk-report');
  assert.equal(json.generatedAt, '2025-02-03T04:05:06Z');
  assert.equal(json.run.decision.chosen, 'svm');
  assert.equal(json.derived.confidentlyWrong.items.length, 8);
  assert.ok(!JSON.stringify(json).includes('base64'), 'report.json holds no image data');
  const mdText = await readFile(r.markdown, 'utf8');
  assert.match(mdText, /^# ftk report: /);
  // --out elsewhere; the run folder is left alone.
  const out = path.join(tmp, 'elsewhere');
  const r2 = await writeReport(path.join(runDir, 'run.json'), { out, imageRoot: images });
  assert.equal(path.dirname(r2.html), out);
});

test('readRunReport: a missing run, broken JSON and an invalid record are clear errors', async () => {
  await assert.rejects(readRunReport(path.join(tmp, 'nope')), (e: unknown) => e instanceof RunReportError && e.code === 'RUN_REPORT_MISSING' && /ftk auto --out/.test(e.suggestion ?? ''));
  const empty = path.join(tmp, 'empty-run');
  await mkdir(empty, { recursive: true });
  await assert.rejects(readRunReport(empty), (e: unknown) => e instanceof RunReportError && /No run record at .*run\.json/.test(e.message));
  await writeFile(path.join(empty, 'run.json'), '{"format": "ftk-run", ');
  await assert.rejects(readRunReport(empty), (e: unknown) => e instanceof RunReportError && e.code === 'RUN_REPORT_INVALID' && /is not valid JSON/.test(e.message));
  await writeFile(path.join(empty, 'run.json'), JSON.stringify({ format: 'ftk-run', formatVersion: 1 }));
  await assert.rejects(readRunReport(empty), /run\.json is not a valid ftk run record: dataset is missing/);
});

test('renderReport returns the three forms without touching the disk', async () => {
  const r = await renderReport(partial, { generatedAt: 'T' });
  assert.match(r.html, /<footer>Rendered by ftk [^ ]+ at T /);
  assert.match(r.markdown, /Rendered by ftk/);
  assert.equal(r.json.run, partial);
  assert.deepEqual(r.warnings, []);
});

const parseReport = (argv: string[]) => parseContext<ReportContext>(reportCommand, ['report', ...argv]);

test('ftk report: flags parse into a typed context', async () => {
  assert.deepEqual(await parseReport(['runs/a']), { runDir: 'runs/a', out: undefined, json: false });
  assert.deepEqual(await parseReport(['runs/a', '--out', 'o', '--json']), { runDir: 'runs/a', out: 'o', json: true });
  await assert.rejects(parseReport([]), /missing required argument 'run dir'/);
});

test('ftk report --json prints the written paths', async () => {
  const runDir = path.join(tmp, 'cli-run');
  await mkdir(runDir, { recursive: true });
  await writeFile(path.join(runDir, 'run.json'), JSON.stringify(partial));
  const chunks: string[] = [];
  const write = process.stdout.write;
  process.stdout.write = ((s: string | Uint8Array) => (chunks.push(String(s)), true)) as typeof process.stdout.write;
  let code: number;
  try {
    code = await runReport({ runDir, json: true });
  } finally {
    process.stdout.write = write;
  }
  assert.equal(code, 0);
  const out = JSON.parse(chunks.join(''));
  assert.equal(out.chosen, 'svm');
  assert.equal(out.html, path.join(runDir, 'report.html'));
  assert.match(await readFile(out.html, 'utf8'), /<!DOCTYPE html>/);
});
