/** ftk's own package.json, found from this file whether it runs from src/ or dist/src/. */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export interface PackageInfo {
  name: string;
  version: string;
  description: string;
}

let cached: PackageInfo | undefined;

export function packageInfo(): PackageInfo {
  if (cached) return cached;
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = path.join(dir, 'package.json');
    if (existsSync(candidate)) {
      const pkg = JSON.parse(readFileSync(candidate, 'utf8')) as PackageInfo;
      if (pkg.name === 'ftk') return (cached = pkg);
    }
    const parent = path.dirname(dir);
    if (parent === dir) return (cached = { name: 'ftk', version: '0.0.0', description: '' });
    dir = parent;
  }
}
