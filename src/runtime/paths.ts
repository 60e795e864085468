/**
 * Where ftk keeps its files: downloaded weights and the feature cache.
 *
 * ftk's home, first match wins:
 *   1. `$FTK_HOME`
 *   2. `$XDG_CACHE_HOME/ftk`
 *   3. the platform cache folder: `~/Library/Caches/ftk` (macOS), `%LOCALAPPDATA%\ftk` (Windows),
 *      `~/.cache/ftk` (elsewhere)
 *
 * Layout under it:
 *   weights/                  Keras weight files, by their Keras file name
 *   cache/features.sqlite     the feature cache
 *
 * Only paths are computed here; nothing is created. Every function takes the environment
 * (default `process.env`) so tests can point ftk at a temporary folder without touching globals.
 */
import os from 'node:os';
import path from 'node:path';

/** Where the home is computed for: the defaults are this process' platform and home folder. */
export interface PathContext {
  /** Default `process.platform`. */
  platform?: NodeJS.Platform;
  /** Default `os.homedir()`. */
  homedir?: string;
}

type Env = Readonly<Record<string, string | undefined>>;

/** ftk's home folder (absolute). */
export function ftkHome(env: Env = process.env, context: PathContext = {}): string {
  const platform = context.platform ?? process.platform;
  const p = platform === 'win32' ? path.win32 : path.posix;
  const nonEmpty = (v: string | undefined): v is string => v !== undefined && v.trim() !== '';
  if (nonEmpty(env.FTK_HOME)) return p.resolve(env.FTK_HOME);
  if (nonEmpty(env.XDG_CACHE_HOME)) return p.resolve(env.XDG_CACHE_HOME, 'ftk');
  const home = context.homedir ?? os.homedir();
  switch (platform) {
    case 'darwin':
      return p.join(home, 'Library', 'Caches', 'ftk');
    case 'win32':
      return nonEmpty(env.LOCALAPPDATA) ? p.join(env.LOCALAPPDATA, 'ftk') : p.join(home, 'AppData', 'Local', 'ftk');
    default:
      return p.join(home, '.cache', 'ftk');
  }
}

/** Folder of downloaded weight files: `<home>/weights`. */
export function weightsDir(env: Env = process.env, context: PathContext = {}): string {
  return joinFor(context, ftkHome(env, context), 'weights');
}

/** The feature cache database: `<home>/cache/features.sqlite` (the path only). */
export function cacheDbPath(env: Env = process.env, context: PathContext = {}): string {
  return joinFor(context, ftkHome(env, context), 'cache', 'features.sqlite');
}

function joinFor(context: PathContext, ...parts: string[]): string {
  return ((context.platform ?? process.platform) === 'win32' ? path.win32 : path.posix).join(...parts);
}
