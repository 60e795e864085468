/**
 * Finding a labelled image dataset: a folder with one subfolder per class, or a CSV manifest.
 *
 * Folder layout follows Keras' `image_dataset_from_directory(labels='inferred')`
 * (keras/src/utils/dataset_utils.py `index_directory`):
 * - classes are the subfolders of the root, sorted as Python's `sorted()` sorts str (by code
 *   point), unless `classes` fixes the list and its order;
 * - files are found recursively in each class folder (a nested folder belongs to its top class
 *   folder); folders are visited in path order and files sorted within each, as Keras' sorted
 *   `os.walk`, so entry order (and label order) is Keras' with `shuffle=False`.
 *
 * Porting notes (where ftk differs from Keras):
 * - Extensions: Keras accepts .bmp .gif .jpeg .jpg .png; ftk accepts what sharp decodes:
 *   .avif .gif .jfif .jpeg .jpg .png .tif .tiff .webp (case-insensitive; .jfif is how Windows
 *   browsers save JPEGs). .bmp and .heic are listed as
 *   ignored with the reason (sharp's prebuilt libvips reads neither).
 * - Nothing is dropped silently: hidden files and folders (name starting with '.', e.g. .DS_Store,
 *   .ipynb_checkpoints), Thumbs.db/desktop.ini, other extensions, broken symlinks, unreadable
 *   folders and a top-level __MACOSX folder (zip metadata) are listed in `ignored` with a reason.
 *   Keras walks into hidden folders inside a class; ftk skips them.
 * - `followSymlinks: true` tracks visited real paths, so a symlink loop is listed in `ignored`
 *   instead of recursing forever. Symlinked files and symlinked class folders are always used
 *   (as Keras: `os.path.isdir` and `os.walk` follow them); only symlinked folders inside a class
 *   need `followSymlinks`.
 *
 * CSV manifests (`path,label`) are ftk's own; see `findDataset`.
 */
import type { Dirent, Stats } from 'node:fs';
import { readdir, readFile, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { DatasetError, OptionsError } from '../errors.js';
import type { SkippedFile } from '../formats/features.js';

export interface ImageEntry {
  /** Absolute path. */
  path: string;
  /** Path relative to the dataset root, '/'-separated (absolute for manifest rows outside the root). */
  file: string;
  /** Class index into `Dataset.classes`. */
  label: number;
  className: string;
}

export interface Dataset {
  /** Absolute dataset root: the folder, or the manifest's folder. */
  root: string;
  /** Class names; index = label. */
  classes: string[];
  /** Images in Keras order (folders) or row order (manifests). */
  entries: ImageEntry[];
  /** Files and folders not used, each with the reason. */
  ignored: SkippedFile[];
}

export interface FindDatasetOptions {
  /** Follow symlinked folders inside class folders (loops are detected). Default false (as Keras' `follow_links`). */
  followSymlinks?: boolean;
  /**
   * Fixed class list and order (Keras' `class_names`). Folders: each must be a subfolder; other
   * subfolders are ignored. Manifests: rows with other labels are ignored. Default: all classes,
   * sorted by code point (manifest labels that are all non-negative integers sort numerically).
   */
  classes?: string[];
  /** Fewest images a class may have. Default 1. */
  minPerClass?: number;
}

/** Extensions of the formats ftk decodes (lower case, with the dot). */
export const IMAGE_EXTENSIONS: readonly string[] = Object.freeze(['.avif', '.gif', '.jfif', '.jpeg', '.jpg', '.png', '.tif', '.tiff', '.webp']);

/** Image formats people put in datasets that sharp's prebuilt libvips cannot read. */
const UNSUPPORTED_IMAGE_EXTENSIONS: Readonly<Record<string, string>> = Object.freeze({
  '.bmp': 'BMP',
  '.heic': 'HEIC',
  '.heif': 'HEIF',
  '.jxl': 'JPEG XL',
  '.jp2': 'JPEG 2000',
  '.ico': 'ICO',
  '.psd': 'PSD',
  '.svg': 'SVG',
  '.dng': 'raw camera',
  '.cr2': 'raw camera',
  '.nef': 'raw camera',
  '.arw': 'raw camera',
});

const SYSTEM_FILES: ReadonlySet<string> = new Set(['thumbs.db', 'ehthumbs.db', 'desktop.ini']);

const MANIFEST_EXTENSIONS: ReadonlySet<string> = new Set(['.csv', '.tsv', '.txt']);

/** Header names recognised in a manifest's first row (case-insensitive). */
const PATH_HEADERS: ReadonlySet<string> = new Set(['path', 'file', 'filename', 'file_name', 'filepath', 'file_path', 'image', 'image_path', 'img']);
const LABEL_HEADERS: ReadonlySet<string> = new Set(['label', 'class', 'class_name', 'classname', 'category', 'target']);

/**
 * Orders strings by Unicode code point, as Python's `sorted()` orders `str` (JS's default sort
 * compares UTF-16 units, which differs for characters above U+FFFF).
 */
export function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    const xSurrogate = x >= 0xd800 && x <= 0xdfff;
    const ySurrogate = y >= 0xd800 && y <= 0xdfff;
    if (xSurrogate !== ySurrogate) return xSurrogate ? 1 : -1;
    return x - y;
  }
  return a.length - b.length;
}

interface ResolvedFindOptions {
  followSymlinks: boolean;
  classes?: string[];
  minPerClass: number;
}

function resolveFindOptions(options: FindDatasetOptions): ResolvedFindOptions {
  const followSymlinks = options.followSymlinks ?? false;
  if (typeof followSymlinks !== 'boolean') {
    throw new OptionsError(`followSymlinks must be a boolean. Received ${JSON.stringify(followSymlinks)}.`);
  }
  const minPerClass = options.minPerClass ?? 1;
  if (!Number.isInteger(minPerClass) || minPerClass < 1) {
    throw new OptionsError(`minPerClass must be a positive integer. Received ${minPerClass}.`);
  }
  const classes = options.classes;
  if (classes !== undefined) {
    if (!Array.isArray(classes) || classes.length === 0 || classes.some((c) => typeof c !== 'string' || c === '')) {
      throw new OptionsError(`classes must be a non-empty list of class names. Received ${JSON.stringify(classes)}.`);
    }
    const seen = new Set<string>();
    for (const c of classes) {
      if (seen.has(c)) throw new OptionsError(`classes lists "${c}" twice. Received ${JSON.stringify(classes)}.`);
      seen.add(c);
    }
  }
  return { followSymlinks, classes: classes ? [...classes] : undefined, minPerClass };
}

/**
 * Finds the images and labels of a dataset.
 *
 * `source` is either
 * - a folder with one subfolder per class (Keras layout, see the module notes), or
 * - a CSV manifest (.csv, also .tsv/.txt) of `path,label` rows. The header is optional (a first
 *   row naming the columns, e.g. `path,label` or `filename,class`, picks them by name; a first row
 *   whose file does not exist and whose label no other row uses is taken as a header too). Fields
 *   may be quoted (RFC 4180, `""` escapes a quote); unquoted fields are trimmed; the delimiter is
 *   ',' unless the first row has none and has tabs or ';'. Paths are relative to the manifest's
 *   folder or absolute; labels are class names. Rows whose file is missing, whose label is empty
 *   or unknown (with `classes`), or that repeat a file are listed in `ignored` as
 *   `row N: why` (N = line number in the file, header included). Entries keep row order.
 *
 * Costs one directory read per folder (and one `stat` per manifest row); no file is opened.
 * Throws `DatasetError` (with a `suggestion`) for a missing source, no classes, a class without
 * images, or a class below `minPerClass`.
 *
 * @example
 * const ds = await findDataset('flowers');           // flowers/daisy/*.jpg, flowers/rose/*.jpg
 * ds.classes;                                        // ['daisy', 'rose']
 * ds.entries[0];                                     // { path: '/…/flowers/daisy/1.jpg', file: 'daisy/1.jpg', label: 0, className: 'daisy' }
 */
export async function findDataset(source: string, options: FindDatasetOptions = {}): Promise<Dataset> {
  const resolved = resolveFindOptions(options);
  const abs = path.resolve(source);
  let info: Stats;
  try {
    info = await stat(abs);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      throw new DatasetError(`Dataset not found: ${abs} does not exist.`, {
        code: 'DATASET_NOT_FOUND',
        suggestion: 'Pass a folder with one subfolder per class (e.g. data/cats/*.jpg, data/dogs/*.jpg) or a CSV manifest of path,label rows.',
        cause: err,
      });
    }
    throw new DatasetError(`Cannot read the dataset ${abs} (${code ?? (err as Error).message}).`, {
      code: 'DATASET_UNREADABLE',
      suggestion: 'Check the permissions of the path.',
      cause: err,
    });
  }
  if (info.isDirectory()) return fromFolder(abs, resolved);
  if (info.isFile() && MANIFEST_EXTENSIONS.has(path.extname(abs).toLowerCase())) return fromManifest(abs, resolved);
  throw new DatasetError(`Expected a dataset folder or a CSV manifest. Received ${abs}, which is ${info.isFile() ? 'a file' : 'not a folder'}.`, {
    code: 'DATASET_BAD_SOURCE',
    suggestion: 'Pass the folder that holds one subfolder per class, or a .csv file of path,label rows.',
  });
}

// ---------------------------------------------------------------------------------------------
// Folders

type Kind = 'file' | 'dir' | 'other';

function fsReason(err: unknown, what: 'file' | 'folder'): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'EACCES' || code === 'EPERM') return `unreadable ${what} (permission denied)`;
  if (code === 'ELOOP') return 'symlink loop';
  return `unreadable ${what} (${code ?? (err as Error).message})`;
}

/** Whether a file name is an image ftk reads; otherwise why it is skipped. */
function fileVerdict(name: string): string | undefined {
  if (name.startsWith('.')) return 'hidden file';
  if (SYSTEM_FILES.has(name.toLowerCase())) return 'system file';
  const ext = path.extname(name).toLowerCase();
  if (IMAGE_EXTENSIONS.includes(ext)) return undefined;
  const unsupported = UNSUPPORTED_IMAGE_EXTENSIONS[ext];
  if (unsupported) return `unsupported format (${unsupported}): convert to JPEG or PNG`;
  return ext ? `not an image file extension (${ext})` : 'no file extension';
}

/** A directory entry's kind, following a symlink; `{ error }` with the reason when the link is broken. */
async function kindOf(dirent: Dirent, abs: string): Promise<{ kind: Kind; link: boolean } | { error: string }> {
  if (!dirent.isSymbolicLink()) {
    return { kind: dirent.isDirectory() ? 'dir' : dirent.isFile() ? 'file' : 'other', link: false };
  }
  try {
    const s = await stat(abs);
    return { kind: s.isDirectory() ? 'dir' : s.isFile() ? 'file' : 'other', link: true };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return { error: code === 'ENOENT' ? 'broken symlink' : code === 'ELOOP' ? 'symlink loop' : fsReason(err, 'file') };
  }
}

async function sortedDirents(dir: string): Promise<Dirent[]> {
  const dirents = await readdir(dir, { withFileTypes: true });
  return dirents.sort((a, b) => compareCodePoints(a.name, b.name));
}

interface ClassWalk {
  /** Image paths relative to the root, '/'-separated, in Keras order. */
  files: string[];
  ignored: SkippedFile[];
}

/** Lists one class folder recursively (Keras `index_subdirectory`). */
async function walkClass(root: string, className: string, followSymlinks: boolean): Promise<ClassWalk> {
  const folders: { rel: string; files: string[] }[] = [];
  const ignored: SkippedFile[] = [];
  const visited = new Set<string>();

  const visit = async (abs: string, rel: string): Promise<void> => {
    let real: string;
    let dirents: Dirent[];
    try {
      real = await realpath(abs);
      if (visited.has(real)) {
        ignored.push({ file: `${rel}/`, reason: 'symlink loop (folder already visited)' });
        return;
      }
      visited.add(real);
      dirents = await sortedDirents(abs);
    } catch (err) {
      ignored.push({ file: `${rel}/`, reason: fsReason(err, 'folder') });
      return;
    }
    const files: string[] = [];
    const subfolders: [string, string][] = [];
    for (const dirent of dirents) {
      const childRel = `${rel}/${dirent.name}`;
      const childAbs = path.join(abs, dirent.name);
      if (dirent.name.startsWith('.')) {
        ignored.push(dirent.isDirectory() ? { file: `${childRel}/`, reason: 'hidden folder' } : { file: childRel, reason: 'hidden file' });
        continue;
      }
      const kind = await kindOf(dirent, childAbs);
      if ('error' in kind) {
        ignored.push({ file: childRel, reason: kind.error });
      } else if (kind.kind === 'dir') {
        if (kind.link && !followSymlinks) {
          ignored.push({ file: `${childRel}/`, reason: 'symlinked folder not followed (followSymlinks is false)' });
        } else {
          subfolders.push([childAbs, childRel]);
        }
      } else if (kind.kind === 'file') {
        const verdict = fileVerdict(dirent.name);
        if (verdict) ignored.push({ file: childRel, reason: verdict });
        else files.push(childRel);
      } else {
        ignored.push({ file: childRel, reason: 'not a regular file' });
      }
    }
    folders.push({ rel, files });
    for (const [childAbs, childRel] of subfolders) await visit(childAbs, childRel);
  };

  await visit(path.join(root, className), className);
  // Keras: sorted(os.walk(dir), key=root path), then sorted(files) within each folder.
  folders.sort((a, b) => compareCodePoints(a.rel, b.rel));
  return { files: folders.flatMap((f) => f.files), ignored };
}

async function fromFolder(root: string, options: ResolvedFindOptions): Promise<Dataset> {
  let dirents: Dirent[];
  try {
    dirents = await sortedDirents(root);
  } catch (err) {
    throw new DatasetError(`Cannot list the dataset folder ${root} (${fsReason(err, 'folder')}).`, {
      code: 'DATASET_UNREADABLE',
      suggestion: 'Check the permissions of the folder.',
      cause: err,
    });
  }
  const ignored: SkippedFile[] = [];
  const folders: string[] = [];
  let looseImages = 0;
  for (const dirent of dirents) {
    const name = dirent.name;
    if (name.startsWith('.')) {
      ignored.push(dirent.isDirectory() ? { file: `${name}/`, reason: 'hidden folder' } : { file: name, reason: 'hidden file' });
      continue;
    }
    const kind = await kindOf(dirent, path.join(root, name));
    if ('error' in kind) {
      ignored.push({ file: name, reason: kind.error });
    } else if (kind.kind === 'dir') {
      if (name === '__MACOSX') ignored.push({ file: `${name}/`, reason: 'macOS archive metadata folder' });
      else folders.push(name);
    } else {
      const verdict = kind.kind === 'file' ? fileVerdict(name) : 'not a regular file';
      if (verdict === undefined) looseImages++;
      ignored.push({ file: name, reason: verdict === 'hidden file' || verdict === 'system file' ? verdict : 'not in a class folder' });
    }
  }

  let classes: string[];
  if (options.classes) {
    const missing = options.classes.filter((c) => !folders.includes(c));
    if (missing.length) {
      throw new DatasetError(
        `classes names ${missing.map((c) => `"${c}"`).join(', ')}, but ${root} has no such subfolder. Found subfolders: [${folders.join(', ')}].`,
        {
          code: 'DATASET_UNKNOWN_CLASS',
          suggestion: `Use class names from the subfolders (${folders.join(', ') || 'none'}), or create the missing folders.`,
        },
      );
    }
    classes = options.classes;
    for (const f of folders) if (!classes.includes(f)) ignored.push({ file: `${f}/`, reason: 'folder not in the classes option' });
  } else {
    classes = folders; // already in code-point order
  }
  if (classes.length === 0) {
    throw new DatasetError(
      `No class subfolders in ${root}${looseImages ? `: it holds ${looseImages} image(s) directly, outside any class folder` : ''}.`,
      {
        code: 'DATASET_NO_CLASSES',
        suggestion: `Put the images in one subfolder per class, e.g. ${path.join(root, 'cats')}/1.jpg and ${path.join(root, 'dogs')}/1.jpg, or pass a CSV manifest of path,label rows.`,
      },
    );
  }

  const walks = await Promise.all(classes.map((c) => walkClass(root, c, options.followSymlinks)));
  for (const w of walks) ignored.push(...w.ignored);
  ignored.sort((a, b) => compareCodePoints(a.file, b.file));
  checkClassSizes(
    classes,
    walks.map((w) => w.files.length),
    options.minPerClass,
    (c) => {
      const others = walks[classes.indexOf(c)].ignored;
      const detail = others.length
        ? ` It holds ${others.length} other item(s), e.g. ${others
            .slice(0, 3)
            .map((s) => `${s.file} (${s.reason})`)
            .join(', ')}.`
        : '';
      return `folder ${path.join(root, c)}${detail}`;
    },
    (c) => `Add images (${IMAGE_EXTENSIONS.join(' ')}) to ${path.join(root, c)}, or remove the folder.`,
  );

  const entries: ImageEntry[] = [];
  classes.forEach((className, label) => {
    for (const file of walks[label].files) entries.push({ path: path.join(root, ...file.split('/')), file, label, className });
  });
  return { root, classes, entries, ignored };
}

/** Throws for an empty class (naming it) or a class below `minPerClass`. */
function checkClassSizes(
  classes: string[],
  counts: number[],
  minPerClass: number,
  where: (className: string) => string,
  emptyFix: (className: string) => string,
): void {
  const empty = classes.filter((_, i) => counts[i] === 0);
  if (empty.length === 1) {
    throw new DatasetError(`Class "${empty[0]}" has no images: ${where(empty[0])}`, {
      code: 'DATASET_EMPTY_CLASS',
      suggestion: emptyFix(empty[0]),
    });
  }
  if (empty.length > 1) {
    throw new DatasetError(`${empty.length} classes have no images: ${empty.map((c) => `"${c}"`).join(', ')} (${where(empty[0])})`, {
      code: 'DATASET_EMPTY_CLASS',
      suggestion: `${emptyFix(empty[0])} Same for ${empty.slice(1).join(', ')}.`,
    });
  }
  const small = classes.map((c, i) => ({ c, n: counts[i] })).filter(({ n }) => n < minPerClass);
  if (small.length) {
    throw new DatasetError(
      `${small.length === 1 ? 'Class' : 'Classes'} ${small.map(({ c, n }) => `"${c}" has ${n} image${n === 1 ? '' : 's'}`).join(', ')}; need at least ${minPerClass} per class (minPerClass=${minPerClass}).`,
      {
        code: 'DATASET_SMALL_CLASS',
        suggestion: `Add images to ${small.length === 1 ? 'that class' : 'those classes'} (${small.map(({ c, n }) => `${c}: ${minPerClass - n} more`).join(', ')}), remove ${small.length === 1 ? 'it' : 'them'}, or lower minPerClass.`,
      },
    );
  }
}

// ---------------------------------------------------------------------------------------------
// CSV manifests

interface CsvRow {
  /** 1-based line where the row starts. */
  line: number;
  cells: string[];
  /** The row ended inside a quoted field. */
  unterminated: boolean;
}

/** Picks the delimiter from the first line: ',' unless it has none outside quotes and has tabs or ';'. */
function detectDelimiter(text: string, file: string): string {
  if (path.extname(file).toLowerCase() === '.tsv') return '\t';
  let quoted = false;
  const counts: Record<string, number> = { ',': 0, '\t': 0, ';': 0 };
  for (const ch of text) {
    if (ch === '"') quoted = !quoted;
    else if (!quoted && (ch === '\n' || ch === '\r')) break;
    else if (!quoted && ch in counts) counts[ch]++;
  }
  if (counts[','] > 0) return ',';
  if (counts['\t'] > 0) return '\t';
  if (counts[';'] > 0) return ';';
  return ',';
}

/** RFC 4180 parsing (quoted fields may hold delimiters, newlines and `""`); blank lines are skipped. */
export function parseCsv(text: string, delimiter = ','): CsvRow[] {
  const rows: CsvRow[] = [];
  let line = 1;
  let rowLine = 1;
  let cells: string[] = [];
  let cell = '';
  let cellQuoted = false;
  let inQuotes = false;
  let atCellStart = true;
  const endCell = () => {
    cells.push(cellQuoted ? cell : cell.trim());
    cell = '';
    cellQuoted = false;
    atCellStart = true;
  };
  const endRow = (unterminated: boolean) => {
    endCell();
    if (!(cells.length === 1 && cells[0] === '' && !unterminated)) rows.push({ line: rowLine, cells, unterminated });
    cells = [];
  };
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (inQuotes) {
      if (ch === '"') {
        if (text[i + 1] === '"') {
          cell += '"';
          i++;
        } else {
          inQuotes = false;
        }
      } else {
        if (ch === '\n') line++;
        cell += ch;
      }
    } else if (ch === '"' && atCellStart && cell.trim() === '') {
      inQuotes = true;
      cellQuoted = true;
      cell = '';
      atCellStart = false;
    } else if (ch === delimiter) {
      endCell();
    } else if (ch === '\n' || ch === '\r') {
      if (ch === '\r' && text[i + 1] === '\n') i++;
      endRow(false);
      line++;
      rowLine = line;
    } else {
      cell += ch;
      if (ch !== ' ' && ch !== '\t') atCellStart = false;
    }
  }
  if (inQuotes) endRow(true);
  else if (cell !== '' || cells.length > 0) endRow(false);
  return rows;
}

function isStats(s: Stats | string): s is Stats {
  return typeof s !== 'string';
}

async function statAll(paths: string[], concurrency = 32): Promise<(Stats | string)[]> {
  const out: (Stats | string)[] = new Array(paths.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, paths.length) }, async () => {
      while (next < paths.length) {
        const i = next++;
        try {
          out[i] = await stat(paths[i]);
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          out[i] = code === 'ENOENT' || code === 'ENOTDIR' ? 'file not found' : fsReason(err, 'file');
        }
      }
    }),
  );
  return out;
}

/** Sorts labels by code point, or numerically when all are non-negative integers written plainly. */
function sortLabels(labels: Iterable<string>): string[] {
  const unique = [...new Set(labels)];
  if (unique.every((l) => /^(0|[1-9][0-9]{0,14})$/.test(l))) return unique.sort((a, b) => Number(a) - Number(b));
  return unique.sort(compareCodePoints);
}

async function fromManifest(manifest: string, options: ResolvedFindOptions): Promise<Dataset> {
  const root = path.dirname(manifest);
  const name = path.basename(manifest);
  let text: string;
  try {
    text = await readFile(manifest, 'utf8');
  } catch (err) {
    throw new DatasetError(`Cannot read the manifest ${manifest} (${fsReason(err, 'file')}).`, {
      code: 'DATASET_UNREADABLE',
      suggestion: 'Check the permissions of the file.',
      cause: err,
    });
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const rows = parseCsv(text, detectDelimiter(text, manifest));
  const emptyManifest = () =>
    new DatasetError(`The manifest ${manifest} has no data rows.`, {
      code: 'DATASET_EMPTY_MANIFEST',
      suggestion: 'Write one "path,label" row per image, e.g. "images/1.jpg,cat" (an optional first row "path,label" names the columns).',
    });
  if (rows.length === 0) throw emptyManifest();

  // Header: named columns, or a first row that cannot be data (no such file, label used nowhere else).
  let pathColumn = 0;
  let labelColumn = 1;
  let dataRows = rows;
  const names = rows[0].cells.map((c) => c.toLowerCase());
  const namedPath = names.findIndex((n) => PATH_HEADERS.has(n));
  const namedLabel = names.findIndex((n) => LABEL_HEADERS.has(n));
  if (namedPath >= 0 && namedLabel >= 0) {
    pathColumn = namedPath;
    labelColumn = namedLabel;
    dataRows = rows.slice(1);
  } else if (rows.length >= 2 && rows[0].cells.length >= 2) {
    const [firstStat] = await statAll([path.resolve(root, rows[0].cells[0])]);
    const firstLabel = rows[0].cells[1];
    if (!(isStats(firstStat) && firstStat.isFile()) && !rows.slice(1).some((r) => r.cells[1] === firstLabel)) dataRows = rows.slice(1);
  }
  if (dataRows.length === 0) throw emptyManifest();

  const ignored: SkippedFile[] = [];
  const fixed = options.classes ? new Set(options.classes) : undefined;
  interface Candidate {
    line: number;
    given: string;
    abs: string;
    label: string;
  }
  const candidates: Candidate[] = [];
  const labels: string[] = [];
  for (const row of dataRows) {
    const given = row.cells[pathColumn] ?? '';
    const label = row.cells[labelColumn] ?? '';
    const skip = (reason: string) => ignored.push({ file: given || `${name}:${row.line}`, reason: `row ${row.line}: ${reason}` });
    if (row.unterminated) skip('unterminated quoted field');
    else if (row.cells.length < 2) skip(`expected 2 fields (path,label), found ${row.cells.length}`);
    else if (given === '') skip('empty path');
    else if (label === '') skip('empty label');
    else {
      labels.push(label);
      if (fixed && !fixed.has(label)) skip(`unknown label "${label}" (not in classes)`);
      else candidates.push({ line: row.line, given, abs: path.resolve(root, given), label });
    }
  }

  const stats = await statAll(candidates.map((c) => c.abs));
  const firstRow = new Map<string, Candidate>();
  const kept: Candidate[] = [];
  candidates.forEach((c, i) => {
    const s = stats[i];
    const skip = (reason: string) => ignored.push({ file: c.given, reason: `row ${c.line}: ${reason}` });
    if (!isStats(s)) return skip(s);
    if (s.isDirectory()) return skip('a folder, not a file');
    if (!s.isFile()) return skip('not a regular file');
    const earlier = firstRow.get(c.abs);
    if (earlier) {
      return skip(
        earlier.label === c.label
          ? `duplicate of row ${earlier.line}`
          : `same file as row ${earlier.line} with another label ("${c.label}" here, "${earlier.label}" there)`,
      );
    }
    firstRow.set(c.abs, c);
    kept.push(c);
  });
  ignored.sort((a, b) => rowOf(a) - rowOf(b));

  const classes = options.classes ?? sortLabels(labels);
  const index = new Map(classes.map((c, i) => [c, i]));
  const counts = classes.map(() => 0);
  for (const c of kept) counts[index.get(c.label)!]++;
  checkClassSizes(
    classes,
    counts,
    options.minPerClass,
    (c) => {
      const rowsOfClass = ignored.filter((s) => dataRows.some((r) => r.cells[labelColumn] === c && s.reason.startsWith(`row ${r.line}:`)));
      return rowsOfClass.length
        ? `all its rows in ${name} were ignored, e.g. ${rowsOfClass
            .slice(0, 3)
            .map((s) => `${s.reason} (${s.file})`)
            .join('; ')}.`
        : `no row of ${name} has this label.`;
    },
    (c) => `Fix the paths of the "${c}" rows in ${manifest}, or ${options.classes ? 'remove the class from the classes option' : 'remove those rows'}.`,
  );

  const entries: ImageEntry[] = kept.map((c) => {
    const rel = path.relative(root, c.abs);
    const inside = rel !== '' && rel !== '..' && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel);
    const file = (inside ? rel : c.abs).split(path.sep).join('/');
    const label = index.get(c.label)!;
    return { path: c.abs, file, label, className: c.label };
  });
  return { root, classes, entries, ignored };
}

function rowOf(s: SkippedFile): number {
  const m = /^row (\d+):/.exec(s.reason);
  return m ? Number(m[1]) : 0;
}

/**
 * The images to predict: files as given, folders searched recursively (in the same order and
 * with the same skipping rules as a class folder). Nothing is labelled: `classes` is empty and
 * every entry has label -1. `file` is the path relative to the working directory.
 *
 * @example
 * const { entries, ignored } = await findImages(['new/', 'extra.jpg']);
 */
export async function findImages(inputs: readonly string[], options: { followSymlinks?: boolean } = {}): Promise<Dataset> {
  if (inputs.length === 0) {
    throw new DatasetError('No images given.', { code: 'DATASET_NO_INPUT', suggestion: 'Pass image files or folders.' });
  }
  const root = process.cwd();
  const entries: ImageEntry[] = [];
  const ignored: SkippedFile[] = [];
  const seen = new Set<string>();
  const add = (abs: string) => {
    if (seen.has(abs)) return;
    seen.add(abs);
    entries.push({ path: abs, file: path.relative(root, abs).split(path.sep).join('/'), label: -1, className: '' });
  };
  for (const input of inputs) {
    const abs = path.resolve(input);
    const stats = await stat(abs).catch((err: unknown) =>
      (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : fsReason(err, 'file'),
    );
    if (typeof stats === 'string') {
      throw new DatasetError(`${input}: ${stats}.`, { code: 'DATASET_NOT_FOUND', suggestion: 'Pass existing image files or folders.' });
    }
    if (stats.isDirectory()) {
      const walk = await walkClass(path.dirname(abs), path.basename(abs), options.followSymlinks ?? false);
      for (const rel of walk.files) add(path.join(path.dirname(abs), ...rel.split('/')));
      ignored.push(...walk.ignored);
    } else {
      add(abs);
    }
  }
  if (entries.length === 0) {
    throw new DatasetError(`No images found in ${inputs.join(', ')}.`, {
      code: 'DATASET_NO_IMAGES',
      suggestion: `Image files end in ${IMAGE_EXTENSIONS.join(', ')}.`,
    });
  }
  return { root, classes: [], entries, ignored };
}
