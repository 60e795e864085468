/**
 * The exported web page's two text files: index.html (from the model's facts) and app.js (the
 * same for every model). Plain browser JavaScript, no build step, no network: app.js reads the
 * facts from a JSON block of index.html, loads `classifier.onnx` with onnxruntime-web (the global
 * `ort` of ort.wasm.min.js) and, per image, decodes it with the browser (createImageBitmap, EXIF
 * orientation applied, drawn on a canvas at its own size), keeps R, G, B as uint8 [1, H, W, 3] and
 * runs the file, which resizes and preprocesses as ftk does. Results: one row per image with its
 * thumbnail, label and a bar per class; `window.ftkResults` holds them for scripts and tests.
 */

export interface WebPageFacts {
  title: string;
  modelFile: string;
  classes: string[];
  inputSize: number;
  crop: 'squash' | 'center';
  accuracy: number | null;
  accuracyHow: string | null;
  description: string;
  ftkVersion: string;
  ortWebVersion: string;
  sizeBytes: number;
}

const escapeHtml = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

export function webIndexHtml(f: WebPageFacts): string {
  const accuracy = f.accuracy === null ? 'not recorded in the training report' : `${(f.accuracy * 100).toFixed(1)}%${f.accuracyHow ? ` (${escapeHtml(f.accuracyHow)})` : ''}`;
  const facts = JSON.stringify(f).replace(/</g, '\\u003c');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<meta http-equiv="Content-Security-Policy" content="default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; img-src 'self' blob: data:; style-src 'unsafe-inline'; connect-src 'self'">
<title>${escapeHtml(f.title)}</title>
<style>
body{font:15px/1.4 system-ui,sans-serif;margin:1.5rem auto;max-width:60rem;padding:0 1rem;color:#222}
h1{font-size:1.4rem;margin:0 0 .5rem}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem;margin:0 0 1rem}
dt{color:#666}dd{margin:0}
#drop{border:2px dashed #888;border-radius:8px;padding:1.5rem;text-align:center;margin-bottom:1rem}
#drop.over{background:#eef5ff;border-color:#36c}
#status{color:#555;margin:.5rem 0}
.row{display:grid;grid-template-columns:96px 1fr;gap:1rem;align-items:center;border-top:1px solid #ddd;padding:.6rem 0}
.row img{width:96px;height:96px;object-fit:cover;border-radius:4px}
.name{font-size:.85rem;color:#666;word-break:break-all}
.label{font-weight:600;font-size:1.1rem}
.bar{display:grid;grid-template-columns:8rem 1fr 4rem;gap:.5rem;align-items:center;font-size:.9rem}
.track{background:#eee;height:.9rem;border-radius:3px;overflow:hidden}
.fill{background:#36c;height:100%}
.top .fill{background:#2a8a3a}
.error{color:#b00}
</style>
</head>
<body>
<h1>${escapeHtml(f.title)}</h1>
<dl>
<dt>Classes</dt><dd id="classes">${f.classes.map(escapeHtml).join(', ')}</dd>
<dt>Accuracy</dt><dd id="accuracy">${accuracy}</dd>
<dt>Input</dt><dd id="input-size">any image size; resized to ${f.inputSize}&times;${f.inputSize} in the model (bilinear, ${f.crop === 'center' ? 'centre crop first' : 'aspect ratio squashed'})</dd>
<dt>Model</dt><dd>${escapeHtml(f.description)}; ${(f.sizeBytes / 1e6).toFixed(2)} MB ONNX, runs here with onnxruntime-web ${escapeHtml(f.ortWebVersion)} (nothing leaves this computer)</dd>
</dl>
<div id="drop"><p>Drop images here, or <label>pick them: <input id="files" type="file" accept="image/*" multiple></label></p></div>
<div id="status">Loading the model&hellip;</div>
<div id="results"></div>
<script type="application/json" id="ftk-facts">${facts}</script>
<script src="ort.wasm.min.js"></script>
<script src="app.js"></script>
</body>
</html>
`;
}

export const WEB_APP_JS = `'use strict';
(function () {
  var facts = JSON.parse(document.getElementById('ftk-facts').textContent);
  var status = document.getElementById('status');
  var results = document.getElementById('results');
  window.ftkResults = [];
  window.ftkReady = false;
  ort.env.wasm.numThreads = 1;
  ort.env.wasm.wasmPaths = './';
  var session = ort.InferenceSession.create(facts.modelFile, { executionProviders: ['wasm'] }).then(function (s) {
    window.ftkReady = true;
    status.textContent = 'Model loaded. Drop or pick images.';
    return s;
  }, function (err) {
    status.textContent = 'The model could not be loaded: ' + err.message;
    status.className = 'error';
    window.ftkError = String(err && err.message || err);
    throw err;
  });

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  async function pixelsOf(file) {
    var bitmap = await createImageBitmap(file, { imageOrientation: 'from-image', premultiplyAlpha: 'none', colorSpaceConversion: 'none' });
    var canvas = document.createElement('canvas');
    canvas.width = bitmap.width;
    canvas.height = bitmap.height;
    var ctx = canvas.getContext('2d', { willReadFrequently: true });
    ctx.drawImage(bitmap, 0, 0);
    var rgba = ctx.getImageData(0, 0, bitmap.width, bitmap.height).data;
    var n = bitmap.width * bitmap.height;
    var rgb = new Uint8Array(n * 3);
    for (var i = 0; i < n; i++) {
      rgb[i * 3] = rgba[i * 4];
      rgb[i * 3 + 1] = rgba[i * 4 + 1];
      rgb[i * 3 + 2] = rgba[i * 4 + 2];
    }
    bitmap.close();
    return { data: rgb, height: canvas.height, width: canvas.width };
  }

  function showRow(file, result) {
    var row = el('div', 'row');
    var img = el('img');
    img.alt = file.name;
    img.src = URL.createObjectURL(file);
    row.appendChild(img);
    var right = el('div');
    right.appendChild(el('div', 'name', file.name));
    if (result.error) {
      right.appendChild(el('div', 'error', 'Cannot classify: ' + result.error));
    } else {
      right.appendChild(el('div', 'label', result.label));
      facts.classes.forEach(function (c, k) {
        var p = result.probabilities[k];
        var bar = el('div', 'bar' + (c === result.label ? ' top' : ''));
        bar.appendChild(el('span', null, c));
        var track = el('div', 'track');
        var fill = el('div', 'fill');
        fill.style.width = (p * 100).toFixed(1) + '%';
        track.appendChild(fill);
        bar.appendChild(track);
        bar.appendChild(el('span', null, (p * 100).toFixed(1) + '%'));
        right.appendChild(bar);
      });
    }
    row.appendChild(right);
    results.appendChild(row);
  }

  async function classify(files) {
    var s = await session;
    for (var i = 0; i < files.length; i++) {
      var file = files[i];
      status.textContent = 'Classifying ' + (i + 1) + ' of ' + files.length + '\\u2026';
      var result;
      try {
        var px = await pixelsOf(file);
        var out = await s.run({ pixels: new ort.Tensor('uint8', px.data, [1, px.height, px.width, 3]) });
        var probabilities = Array.from(out.probabilities.data);
        var label = facts.classes[Number(out.label.data[0])];
        result = { file: file.name, label: label, probabilities: probabilities, height: px.height, width: px.width };
      } catch (err) {
        result = { file: file.name, error: String(err && err.message || err) };
      }
      window.ftkResults.push(result);
      showRow(file, result);
    }
    status.textContent = window.ftkResults.length + ' image(s) classified.';
  }

  document.getElementById('files').addEventListener('change', function (e) {
    classify(Array.from(e.target.files));
  });
  var drop = document.getElementById('drop');
  drop.addEventListener('dragover', function (e) { e.preventDefault(); drop.classList.add('over'); });
  drop.addEventListener('dragleave', function () { drop.classList.remove('over'); });
  drop.addEventListener('drop', function (e) {
    e.preventDefault();
    drop.classList.remove('over');
    classify(Array.from(e.dataTransfer.files).filter(function (f) { return /^image\\//.test(f.type) || /\\.(jpe?g|png|webp|gif|bmp|avif)$/i.test(f.name); }));
  });
})();
`;
