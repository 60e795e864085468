import path from 'node:path';

/**
 * `relative` (a path read from a model or bundle file) resolved inside `folder`, or undefined when
 * it is absolute or climbs out of the folder: files name their parts relative to themselves, and a
 * crafted file must not make ftk read (or load as weights) files elsewhere on the disk.
 */
export function resolveInside(folder: string, relative: string): string | undefined {
  if (typeof relative !== 'string' || relative === '' || path.isAbsolute(relative) || path.win32.isAbsolute(relative)) return undefined;
  const base = path.resolve(folder);
  const full = path.resolve(base, relative);
  const rel = path.relative(base, full);
  return rel === '' || rel.startsWith('..') || path.isAbsolute(rel) ? undefined : full;
}
