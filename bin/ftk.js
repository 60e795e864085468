#!/usr/bin/env node
// Runs the compiled CLI (dist/, built by `npm run build` / `npm ci`), or the TypeScript source
// through tsx in a development checkout without a build (or with FTK_DEV=1).
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

const compiled = fileURLToPath(new URL('../dist/src/cli/main.js', import.meta.url));
let entry;
if (existsSync(compiled) && !process.env.FTK_DEV) {
  entry = pathToFileURL(compiled).href;
} else {
  const { register } = await import('tsx/esm/api');
  register();
  entry = new URL('../src/cli/main.ts', import.meta.url).href;
}
const { main } = await import(entry);
process.exitCode = await main(process.argv);
