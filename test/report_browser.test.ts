/**
 * The HTML report as a user sees it: rendered by headless Chromium (Debian's `chromium`).
 *
 * 1. A probed copy of the report (a small script added in <head> that records errors, and one at
 *    the end that measures every plot after `load`) is loaded with `--dump-dom`; the measurements
 *    come back in the dumped DOM. The copy drops the page's Content-Security-Policy, which
 *    forbids scripts (the report itself has none).
 * 2. The untouched report is loaded with `--screenshot` and console logging on stderr: no console
 *    message at all (CSP violations, failed loads and errors all log there), and the PNG shows
 *    every plot (the pixels inside each plot's box are not blank).
 *
 * Nothing is installed here: without Chromium the tests are skipped with the reason
 * (`apt-get install -y chromium`; FTK_CHROMIUM may point at another binary). Set
 * FTK_KEEP_REPORT_ARTIFACTS=1 to keep the temp folder (report + screenshot) for a look.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, test } from 'node:test';
import sharp from 'sharp';
import { validateRunReport, type RunReport } from '../src/formats/run_report.js';
import { deriveReport } from '../src/report/derive.js';
import { writeReport } from '../src/report/report.js';
import { tempDir } from './helpers/images.js';
import { requireInput } from './helpers/requires.js';

const CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome', '/usr/bin/google-chrome-stable'];
const fromEnv = process.env.FTK_CHROMIUM;
const CHROMIUM = fromEnv ? (existsSync(fromEnv) ? fromEnv : undefined) : CANDIDATES.find((c) => existsSync(c));
const SKIP = requireInput(
  fromEnv
    ? `FTK_CHROMIUM=${fromEnv} does not exist: point it at a Chromium binary, or unset it to use /usr/bin/chromium`
    : `Chromium (${CANDIDATES.join(', ')}; \`apt-get install -y chromium\`)`,
  Boolean(CHROMIUM),
);

const { dir: tmp, cleanup } = await tempDir('ftk-report-browser-');
after(async () => {
  if (process.env.FTK_KEEP_REPORT_ARTIFACTS) process.stderr.write(`report artifacts kept in ${tmp}\n`);
  else await cleanup();
});

/** Plot ids the full fixture must show. */
const FULL_PLOTS = ['class-counts', 'accuracy', 'macro-f1', 'folds', 'paired-differences', 'confusion-svm', 'confusion-finetune', 'confusion-scratch', 'learning-curves', 'svm-grid', 'timings'];
const WIDTH = 1280;

interface Probe {
  errors: string[];
  title: string;
  page: { width: number; height: number };
  plots: { id: string; x: number; y: number; width: number; height: number; title: string; desc: string; labelled: boolean; shapes: number; texts: number }[];
  images: { width: number; height: number; alt: string }[];
}

const PROBE_HEAD = `<script>window.__ftkErrors=[];addEventListener('error',function(e){var t=e.target;__ftkErrors.push(e.message||('failed to load '+((t&&(t.src||t.href))||'a resource')))},true);addEventListener('unhandledrejection',function(e){__ftkErrors.push('unhandled rejection: '+e.reason)});(function(){['error','warn'].forEach(function(k){var f=console[k];console[k]=function(){__ftkErrors.push('console.'+k+': '+[].join.call(arguments,' '));f.apply(console,arguments)}})})();</script>`;

const PROBE_BODY = `<script>addEventListener('load',function(){var o={errors:__ftkErrors,title:document.title,page:{width:document.documentElement.scrollWidth,height:document.documentElement.scrollHeight},plots:[],images:[]};
document.querySelectorAll('svg.plot-svg').forEach(function(s){var r=s.getBoundingClientRect(),t=s.querySelector('title'),d=s.querySelector('desc'),ids=(s.getAttribute('aria-labelledby')||'').split(' ').filter(Boolean);
o.plots.push({id:s.getAttribute('data-plot'),x:r.left+scrollX,y:r.top+scrollY,width:r.width,height:r.height,title:t?t.textContent:'',desc:d?d.textContent:'',labelled:ids.length>0&&ids.every(function(i){return !!document.getElementById(i)}),shapes:s.querySelectorAll('rect,circle,line,polyline,polygon').length,texts:s.querySelectorAll('text').length})});
[].forEach.call(document.images,function(i){o.images.push({width:i.naturalWidth,height:i.naturalHeight,alt:i.alt})});
var p=document.createElement('pre');p.id='ftk-probe';p.textContent=JSON.stringify(o);document.body.appendChild(p)});</script>`;

function unescapeHtml(s: string): string {
  return s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&nbsp;/g, '\u00a0').replace(/&amp;/g, '&');
}

/** Runs Chromium headless with the flags of the issue; resolves with its output. */
async function chromium(args: string[]): Promise<{ stdout: string; stderr: string; code: number | null }> {
  const profile = await mkdtemp(path.join(tmp, 'profile-'));
  const flags = [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    `--user-data-dir=${profile}`,
    '--hide-scrollbars',
    '--force-device-scale-factor=1',
    ...args,
  ];
  return new Promise((resolve, reject) => {
    const child = spawn(CHROMIUM!, flags, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`chromium timed out after 30 s: ${flags.join(' ')}\n${stderr.slice(-2000)}`));
    }, 30_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ stdout, stderr, code });
    });
  });
}

/** Loads a probed copy of `htmlFile` and returns the measurements. */
async function probe(htmlFile: string): Promise<Probe> {
  const html = await readFile(htmlFile, 'utf8');
  const csp = /<meta http-equiv="Content-Security-Policy"[^>]*>/;
  assert.match(html, csp, 'the report carries its CSP');
  const probed = html.replace(csp, '').replace('<head>', `<head>${PROBE_HEAD}`).replace('</body>', `${PROBE_BODY}</body>`);
  const file = htmlFile.replace(/\.html$/, '.probe.html');
  await writeFile(file, probed);
  const r = await chromium([`--window-size=${WIDTH},900`, '--dump-dom', pathToFileURL(file).href]);
  const m = /<pre id="ftk-probe">([\s\S]*?)<\/pre>/.exec(r.stdout);
  assert.ok(m, `the probe wrote its result (chromium exit ${r.code}):\n${r.stderr.slice(-1500)}`);
  return JSON.parse(unescapeHtml(m[1])) as Probe;
}

/** Console messages Chromium logged for the page (`--enable-logging=stderr`). */
function consoleLines(stderr: string): string[] {
  return stderr.split('\n').filter((l) => /:CONSOLE[:(]/.test(l));
}

async function fixture(name: string): Promise<RunReport> {
  return validateRunReport(JSON.parse(await readFile(path.resolve('test/fixtures/report', name), 'utf8')), name);
}

async function writeImages(root: string, run: RunReport): Promise<void> {
  const colors = [
    [200, 120, 60],
    [80, 140, 200],
    [90, 180, 90],
  ];
  const wrong = new Set(deriveReport(run).confidentlyWrong?.items.map((i) => i.file));
  for (const p of run.paths?.[0]?.predictions ?? []) {
    if (!wrong.has(p.file)) continue;
    const f = path.join(root, p.file);
    await mkdir(path.dirname(f), { recursive: true });
    const [r, g, b] = colors[p.label];
    const ring = Buffer.from(`<svg width="160" height="120"><circle cx="80" cy="60" r="38" fill="white"/></svg>`);
    await sharp({ create: { width: 160, height: 120, channels: 3, background: { r, g, b } } })
      .composite([{ input: ring }])
      .jpeg()
      .toFile(f);
  }
}

async function render(name: string): Promise<string> {
  const run = await fixture(name);
  const runDir = path.join(tmp, name.replace(/\.json$/, ''));
  const images = path.join(tmp, 'images');
  await mkdir(runDir, { recursive: true });
  await writeFile(path.join(runDir, 'run.json'), JSON.stringify(run));
  await writeImages(images, run);
  const r = await writeReport(runDir, { imageRoot: images, generatedAt: '2025-01-15T12:00:00Z' });
  assert.deepEqual(r.warnings, []);
  return r.html;
}

test('full report in headless Chromium: every plot laid out with a size, titled, no errors', { skip: SKIP, timeout: 60_000 }, async () => {
  const html = await render('full.json');
  const p = await probe(html);
  assert.deepEqual(p.errors, [], 'no script errors, failed loads or console errors');
  assert.match(p.title, /^ftk report: pets & <friends> \(SVM\)$/, 'the escaped title reads back as text');
  assert.deepEqual(
    p.plots.map((x) => x.id),
    FULL_PLOTS,
  );
  for (const plot of p.plots) {
    assert.ok(plot.width >= 200 && plot.height >= 80, `${plot.id} has a real size (${plot.width} x ${plot.height})`);
    assert.ok(plot.x >= 0 && plot.x + plot.width <= WIDTH + 0.5, `${plot.id} fits the page width`);
    assert.ok(plot.title.length > 5 && plot.desc.length > 10 && plot.labelled, `${plot.id} has a title and a text alternative`);
    assert.ok(plot.shapes >= 5 && plot.texts >= 4, `${plot.id} has marks and labels (${plot.shapes} shapes, ${plot.texts} texts)`);
  }
  assert.equal(p.page.width, WIDTH, 'nothing overflows horizontally');
  assert.equal(p.images.length, 8, 'one thumbnail per wrong prediction');
  for (const img of p.images) {
    assert.equal(Math.max(img.width, img.height), 96, 'thumbnail decoded at 96 px');
    assert.match(img.alt, /: true .+, predicted /);
  }

  // The untouched page (CSP on): no console message at all, and a screenshot with every plot.
  const png = path.join(path.dirname(html), 'report.png');
  const height = Math.min(16_000, Math.ceil(p.page.height));
  const shot = await chromium(['--enable-logging=stderr', '--v=0', `--window-size=${WIDTH},${height}`, `--screenshot=${png}`, pathToFileURL(html).href]);
  assert.deepEqual(consoleLines(shot.stderr), [], 'Chromium logged no console message (CSP violation, failed load, error)');
  const meta = await sharp(png).metadata();
  assert.equal(meta.format, 'png');
  assert.deepEqual([meta.width, meta.height], [WIDTH, height]);
  const stats = await sharp(png).stats();
  assert.ok(stats.channels.slice(0, 3).some((c) => c.stdev > 20), 'the screenshot is not blank');
  for (const plot of p.plots.filter((x) => x.y + x.height <= height)) {
    const region = { left: Math.floor(plot.x), top: Math.floor(plot.y), width: Math.floor(plot.width), height: Math.floor(plot.height) };
    const s = await sharp(png).extract(region).stats();
    const stdev = Math.max(...s.channels.slice(0, 3).map((c) => c.stdev));
    assert.ok(stdev > 15, `${plot.id} is drawn in the screenshot (pixel stdev ${stdev.toFixed(1)})`);
    if (plot.id.startsWith('confusion') || plot.id === 'svm-grid') {
      // Heat maps are drawn in blues: a good share of the box is clearly blue.
      const { data, info } = await sharp(png).extract(region).removeAlpha().raw().toBuffer({ resolveWithObject: true });
      let blue = 0;
      for (let i = 0; i < data.length; i += info.channels) if (data[i + 2] - data[i] > 60) blue++;
      const share = blue / (info.width * info.height);
      assert.ok(share > 0.03, `${plot.id} shows its coloured cells (${(100 * share).toFixed(1)}% blue pixels)`);
    }
  }
});

test('partial report (dataset and decision only) renders without errors', { skip: SKIP, timeout: 60_000 }, async () => {
  const html = await render('partial.json');
  const p = await probe(html);
  assert.deepEqual(p.errors, []);
  assert.deepEqual(
    p.plots.map((x) => x.id),
    ['class-counts'],
  );
  assert.ok(p.plots[0].width > 200 && p.plots[0].height > 80);
  assert.equal(p.images.length, 0);
});
