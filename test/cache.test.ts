import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { FeatureCache } from '../src/extract/cache.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'ftk-cache-'));

test('stores and returns vectors by (fingerprint, image hash)', () => {
  const cache = new FeatureCache(path.join(tmp, 'a.sqlite'));
  cache.putMany('fp1', [
    { imageHash: 'h1', values: Float32Array.from([1, 2, 3]) },
    { imageHash: 'h2', values: Float32Array.from([4, 5, 6]) },
  ]);
  assert.deepEqual(Array.from(cache.get('fp1', 'h2')!), [4, 5, 6]);
  assert.equal(cache.get('fp2', 'h1'), undefined, 'another model fingerprint is another key');
  assert.equal(cache.count('fp1'), 2);
  assert.deepEqual(cache.verify(), { rows: 2, corrupt: 0 });
  cache.close();
});

test('a row whose blob was damaged is detected, dropped and reported as a miss', () => {
  const file = path.join(tmp, 'b.sqlite');
  const cache = new FeatureCache(file);
  cache.putMany('fp', [{ imageHash: 'h', values: Float32Array.from([1, 2, 3, 4]) }]);
  cache.close();
  const db = new Database(file);
  db.prepare("UPDATE features SET data = ? WHERE image_hash = 'h'").run(Buffer.from(Float32Array.from([1, 2, 3, 5]).buffer));
  db.close();
  const again = new FeatureCache(file);
  assert.equal(again.verify().corrupt, 1);
  assert.equal(again.get('fp', 'h'), undefined);
  assert.equal(again.count(), 0);
  again.close();
});
