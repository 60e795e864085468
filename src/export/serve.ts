/**
 * `ftk serve <dir>`: a minimal static file server for the exported web page (node:http, no
 * dependency). Files only from inside `dir` (no listing, no path escapes), the MIME types the
 * page needs (`application/wasm` lets the browser compile the WebAssembly while it downloads).
 * Binds 127.0.0.1 by default: the page is for the person at the machine.
 */
import { createReadStream, promises as fsp } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { OptionsError } from '../errors.js';
import { resolveInside } from '../runtime/safe_path.js';

export interface ServeOptions {
  /** TCP port; 0 picks a free one. Default 8080. */
  port?: number;
  /** Interface to listen on. Default '127.0.0.1'. */
  host?: string;
}

export interface StaticServer {
  /** e.g. 'http://127.0.0.1:8080/' */
  url: string;
  close(): Promise<void>;
}

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.wasm': 'application/wasm',
  '.onnx': 'application/octet-stream',
  '.json': 'application/json',
  '.css': 'text/css; charset=utf-8',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
};

/** Serves `dir` until `close()`. */
export async function serveStatic(dir: string, options: ServeOptions = {}): Promise<StaticServer> {
  const port = options.port ?? 8080;
  const host = options.host ?? '127.0.0.1';
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new OptionsError(`port must be an integer 0..65535. Received ${port}.`, { code: 'OPTIONS_BAD_VALUE' });
  const stat = await fsp.stat(dir).catch(() => undefined);
  if (!stat?.isDirectory()) throw new OptionsError(`${dir} is not a folder.`, { code: 'SERVE_NOT_A_FOLDER', suggestion: 'Pass the --web folder of `ftk export`.' });
  const root = path.resolve(dir);
  const server = http.createServer((req, res) => {
    const urlPath = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    const relative = urlPath.endsWith('/') ? `${urlPath}index.html` : urlPath;
    const file = resolveInside(root, `.${relative}`);
    const fail = (code: number) => {
      res.writeHead(code, { 'content-type': 'text/plain' });
      res.end(code === 404 ? 'not found' : 'bad request');
    };
    if (!file || (req.method !== 'GET' && req.method !== 'HEAD')) return fail(400);
    fsp.stat(file).then(
      (s) => {
        if (!s.isFile()) return fail(404);
        res.writeHead(200, { 'content-type': MIME[path.extname(file).toLowerCase()] ?? 'application/octet-stream', 'content-length': s.size, 'cache-control': 'no-cache' });
        if (req.method === 'HEAD') return res.end();
        createReadStream(file).pipe(res);
      },
      () => fail(404),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${address.port}/`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
