/**
 * The report's trust sections (HTML and Markdown): "Calibration and unknown images" (reliability
 * diagram and ECE before/after per path; the unknown detector's score histogram with its
 * threshold) and "What more data would buy" (from the learning curves).
 *
 * "What more data would buy": for each path, the accuracy gained per doubling of the training set
 * between the last two points of its learning curve, and what one more doubling would give if that
 * gain held (learning curves flatten, so this is an upper estimate). A path whose last doubling
 * gained less than 0.5 points is called saturated: more images of the same kind will not help it
 * much; its errors need other data (new kinds of images, cleaner labels).
 */
import type { LearningCurve, PathName, RunReport } from '../formats/run_report.js';
import type { ReliabilityJson } from '../formats/trust.js';
import { escapeHtml as h, escapeMarkdown as m, num, pct, PATH_COLORS, PATH_SHORT, pctAxis } from './format.js';
import { barPlot, linePlot } from './svg.js';

export interface TrustSection {
  id: string;
  title: string;
  body: string;
}

/** Below this many points per doubling, a learning curve is called saturated. */
export const SATURATED_GAIN = 0.005;

export interface MoreDataEstimate {
  path: PathName;
  trainSize: number;
  accuracy: number;
  /** Accuracy gained per doubling of the training images, from the last two curve points. */
  gainPerDoubling: number;
  /** trainSize x 2 and the accuracy if the gain held (capped at 1). */
  nextSize: number;
  nextAccuracy: number;
  saturated: boolean;
}

/** The estimate of each learning curve with at least two points of different sizes. */
export function moreDataEstimates(curves: readonly LearningCurve[]): MoreDataEstimate[] {
  const out: MoreDataEstimate[] = [];
  for (const c of curves) {
    const pts = c.points.filter((p) => p.trainSize > 0).sort((a, b) => a.trainSize - b.trainSize);
    if (pts.length < 2) continue;
    const [a, b] = [pts[pts.length - 2], pts[pts.length - 1]];
    if (b.trainSize <= a.trainSize) continue;
    const gain = (b.meanAccuracy - a.meanAccuracy) / Math.log2(b.trainSize / a.trainSize);
    out.push({
      path: c.path,
      trainSize: b.trainSize,
      accuracy: b.meanAccuracy,
      gainPerDoubling: gain,
      nextSize: 2 * b.trainSize,
      nextAccuracy: Math.min(1, b.meanAccuracy + Math.max(0, gain)),
      saturated: gain < SATURATED_GAIN,
    });
  }
  return out;
}

function sentence(e: MoreDataEstimate): string {
  const pp = (x: number) => `${x >= 0 ? '+' : ''}${(100 * x).toFixed(1)} points`;
  return e.saturated
    ? `${PATH_SHORT[e.path]}: ${pct(e.accuracy)} at ${num(e.trainSize)} training images; the last doubling gained ${pp(e.gainPerDoubling)}: saturated, more images of the same kind will not buy much (new kinds of images or cleaner labels might).`
    : `${PATH_SHORT[e.path]}: ${pct(e.accuracy)} at ${num(e.trainSize)} training images, ${pp(e.gainPerDoubling)} per doubling; twice the images (${num(e.nextSize)}) should give at most about ${pct(e.nextAccuracy)}.`;
}

function reliabilityPoints(r: ReliabilityJson) {
  return r.confidence.flatMap((c, i) => (c === null || r.accuracy[i] === null ? [] : [{ x: c, y: r.accuracy[i]!, label: `confidence ${pct(c)}: accuracy ${pct(r.accuracy[i])} (${r.count[i]} images)` }]));
}

// The ensemble averages the members' calibrated out-of-fold probabilities.
const LABEL: Record<PathName, string> = { svm: 'out-of-fold', finetune: 'validation', scratch: 'validation', ensemble: 'out-of-fold' };

/** HTML sections. */
export function trustSectionsHtml(run: RunReport): TrustSection[] {
  const t = run.trust;
  let b = '';
  if (!t?.calibration?.length && !t?.unknown) b += '<p class="missing">No calibration or unknown detector was recorded in this run.</p>';
  for (const { path, calibration: c } of t?.calibration ?? []) {
    b += `<h3>Calibration: ${h(PATH_SHORT[path])}</h3>`;
    b += `<p>${h(c.method === 'none' ? 'No temperature needed (it would not lower the log-loss).' : `Temperature ${c.temperature.toFixed(3)} on top of the model's probabilities (${c.temperature > 1 ? 'they were over-confident' : 'they were under-confident'}).`)} Expected calibration error on ${num(c.before.samples)} ${h(c.fittedOn)} images (15 bins): ${h(c.before.ece.toFixed(4))} before, ${h(c.after.ece.toFixed(4))} after (measured on the images the temperature was fitted on).</p>`;
    b += `<figure class="plot">${linePlot({
      id: `reliability-${path}`,
      title: `Reliability diagram: ${PATH_SHORT[path]} (${LABEL[path]} predictions)`,
      description: `Accuracy against mean confidence per confidence bin; the diagonal is perfect calibration. ECE ${c.before.ece.toFixed(4)} before, ${c.after.ece.toFixed(4)} after.`,
      xLabel: 'confidence (top probability)',
      yLabel: 'accuracy',
      xFormat: pctAxis,
      yFormat: pctAxis,
      yClip: [0, 1],
      series: [
        { name: 'perfect', color: '#999999', points: [{ x: 0.5, y: 0.5 }, { x: 1, y: 1 }] },
        { name: 'before', color: '#c0504d', points: reliabilityPoints(c.before) },
        ...(c.method === 'none' ? [] : [{ name: 'after', color: PATH_COLORS[path], points: reliabilityPoints(c.after) }]),
      ],
    })}</figure>`;
  }
  const u = t?.unknown;
  if (u) {
    // A bin is red when some of it lies above the threshold (the threshold may fall inside it).
    const above = (i: number) => u.edges[i + 1] > u.threshold;
    const rows = u.counts.map((n, i) => ({ label: `${u.edges[i].toFixed(3)}-${u.edges[i + 1].toFixed(3)}${above(i) ? (u.edges[i] >= u.threshold ? ' (unknown)' : ' (threshold inside: partly unknown)') : ''}`, value: n, color: above(i) ? '#c0504d' : '#4a7fb5' }));
    b += `<h3>Unknown images: ${h(PATH_SHORT[u.path])}</h3><p>${h(`Score: ${u.method === 'knn' ? 'distance to the nearest training image' : 'Mahalanobis distance to the nearest class mean'} (L2-normalised features). Threshold ${u.threshold.toFixed(4)}: ${(100 * u.rate).toFixed(1)}% of the training images score above it out-of-fold, so about that share of new images like them will be called unknown; images of none of the classes score higher. \`ftk predict\` marks images above it "label": null, "unknown": true (--no-unknown turns that off).`)}</p>`;
    b += `<figure class="plot">${barPlot({ id: 'unknown-scores', title: 'Out-of-fold unknown scores of the training images (red: above the threshold)', description: `Histogram, threshold ${u.threshold.toFixed(4)}.`, rows, xLabel: 'images', format: (v) => num(Math.round(v)) })}</figure>`;
  }
  const est = moreDataEstimates(run.learningCurves?.curves ?? []);
  const more = est.length
    ? `<p>From the last two points of each learning curve (an upper estimate: curves flatten).</p><ul>${est.map((e) => `<li>${h(sentence(e))}</li>`).join('')}</ul>`
    : '<p class="missing">No learning curve with two sizes was measured in this run.</p>';
  return [
    { id: 'trust', title: 'Calibration and unknown images', body: b },
    { id: 'more-data', title: 'What more data would buy', body: more },
  ];
}

/** Markdown lines of the same sections. */
export function trustMarkdown(run: RunReport): string[] {
  const out: string[] = ['## Calibration and unknown images'];
  const t = run.trust;
  if (!t?.calibration?.length && !t?.unknown) out.push('_No calibration or unknown detector was recorded in this run._');
  for (const { path, calibration: c } of t?.calibration ?? []) {
    out.push(`- ${m(`${PATH_SHORT[path]}: ${c.method === 'none' ? 'no temperature needed' : `temperature ${c.temperature.toFixed(3)}`}; ECE (15 bins, ${c.before.samples} ${c.fittedOn} images) ${c.before.ece.toFixed(4)} before, ${c.after.ece.toFixed(4)} after.`)}`);
  }
  if (t?.unknown) {
    const u = t.unknown;
    out.push(`- ${m(`Unknown detector (${PATH_SHORT[u.path]}): ${u.method}, threshold ${u.threshold.toFixed(4)}, rejects ${(100 * u.rate).toFixed(1)}% of images like the training ones (out-of-fold).`)}`);
  }
  out.push('## What more data would buy');
  const est = moreDataEstimates(run.learningCurves?.curves ?? []);
  if (est.length) out.push(...est.map((e) => `- ${m(sentence(e))}`));
  else out.push('_No learning curve with two sizes was measured in this run._');
  return out;
}
