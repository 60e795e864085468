import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { CLAIM_TTL_MS, FeatureCache } from '../src/extract/cache.js';

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

test('claims: exclusive between owners, stop at the first image held or cached, free again when released, when the holder died or after the TTL', async () => {
  const file = path.join(tmp, 'claims.sqlite');
  const a = new FeatureCache(file);
  const b = new FeatureCache(file);
  const ownerA = { token: 'a', pid: process.pid };
  const ownerB = { token: 'b', pid: process.pid };
  assert.equal(a.claim('fp', ['h1', 'h2', 'h3'], ownerA), 3);
  assert.equal(b.claim('fp', ['h0', 'h2', 'h4'], ownerB), 1, 'claims h0, stops at h2 (held by a live owner)');
  assert.deepEqual(b.claimStatus('fp', ['h1', 'h0', 'h9'], ownerB), ['taken', 'free', 'free'], "its own claim is free to it");
  assert.deepEqual(b.claimStatus('other', ['h1'], ownerB), ['free'], 'claims are per fingerprint');
  a.putMany('fp', [{ imageHash: 'h1', values: Float32Array.from([1]) }]);
  a.releaseClaims('fp', ownerA, ['h1']);
  assert.deepEqual(b.claimStatus('fp', ['h1', 'h2'], ownerB), ['cached', 'taken']);
  a.releaseClaims('fp', ownerA);
  assert.equal(b.claim('fp', ['h2', 'h3', 'h1'], ownerB), 2, 'released claims are free; a cached image stops the claim');
  // A holder that died: its claims are free at once.
  const { spawnSync } = await import('node:child_process');
  const deadPid = Number(spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout);
  const dead = { token: 'dead', pid: deadPid };
  assert.equal(a.claim('fp', ['h7'], dead), 1);
  assert.equal(b.claim('fp', ['h7'], ownerB), 1, 'taken over from a dead process');
  // A claim older than the TTL is free even if its pid is alive.
  const db = new Database(file);
  db.prepare("INSERT OR REPLACE INTO claims (fingerprint, image_hash, owner, pid, claimed_at) VALUES ('fp', 'h8', 'old', ?, ?)").run(process.pid, Date.now() - CLAIM_TTL_MS - 1000);
  db.close();
  assert.equal(b.claim('fp', ['h8'], ownerB), 1);
  a.close();
  b.close();
});
