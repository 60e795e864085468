/**
 * Content-addressed feature cache: one row per (model fingerprint, image content sha256).
 *
 * Stored in SQLite (better-sqlite3) in WAL mode: each batch is one transaction, so a process
 * killed with SIGKILL loses at most the batch in flight and never leaves a half-written row;
 * several processes may read and write the same cache at once (busy timeout). A row whose blob
 * does not have the recorded length or checksum is treated as missing and rewritten.
 *
 * Claims: processes extracting the same images at once share the work through the `claims`
 * table (see claims.ts): an image is claimed before it is decoded, and a claim held by a live
 * process (pid on this host: SQLite's WAL needs one host anyway) keeps the others off it. Claims
 * of dead processes, or older than CLAIM_TTL_MS, are free for the taking.
 * Format: src/formats/README.md, "Feature cache".
 */
import Database from 'better-sqlite3';
import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { isProcessAlive } from '../runtime/pid.js';

const SCHEMA_VERSION = 1;
/** A claim older than this is free even if its process looks alive (that pid may have been reused). */
export const CLAIM_TTL_MS = 10 * 60 * 1000;

/** Who holds a claim: a token unique to one extraction, and its process id. */
export interface ClaimOwner {
  token: string;
  pid: number;
}

/** What an image is to a claimant: in the cache, claimed by another live process, or free. */
export type ClaimStatus = 'cached' | 'taken' | 'free';

export interface CachedFeature {
  imageHash: string;
  values: Float32Array;
}

function checksum(bytes: Uint8Array): string {
  return createHash('sha1').update(bytes).digest('hex').slice(0, 16);
}

export class FeatureCache {
  private readonly db: Database.Database;
  private readonly selectStmt: Database.Statement;
  private readonly insertStmt: Database.Statement;
  private readonly deleteStmt: Database.Statement;
  private readonly existsStmt: Database.Statement;
  private readonly claimOfStmt: Database.Statement;
  private readonly claimStmt: Database.Statement;
  private readonly releaseStmt: Database.Statement;

  /** Opens (creating if needed) the cache database at `file`. */
  constructor(readonly file: string) {
    mkdirSync(path.dirname(file), { recursive: true });
    this.db = new Database(file, { timeout: 30_000 });
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS models (fingerprint TEXT PRIMARY KEY, info TEXT NOT NULL, created_at TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS features (
        fingerprint TEXT NOT NULL,
        image_hash TEXT NOT NULL,
        dim INTEGER NOT NULL,
        checksum TEXT NOT NULL,
        data BLOB NOT NULL,
        PRIMARY KEY (fingerprint, image_hash)
      ) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS claims (
        fingerprint TEXT NOT NULL,
        image_hash TEXT NOT NULL,
        owner TEXT NOT NULL,
        pid INTEGER NOT NULL,
        claimed_at INTEGER NOT NULL,
        PRIMARY KEY (fingerprint, image_hash)
      ) WITHOUT ROWID;
    `);
    this.db.prepare('INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)').run('schema', String(SCHEMA_VERSION));
    this.selectStmt = this.db.prepare('SELECT dim, checksum, data FROM features WHERE fingerprint = ? AND image_hash = ?');
    this.insertStmt = this.db.prepare(
      'INSERT OR REPLACE INTO features (fingerprint, image_hash, dim, checksum, data) VALUES (?, ?, ?, ?, ?)',
    );
    this.deleteStmt = this.db.prepare('DELETE FROM features WHERE fingerprint = ? AND image_hash = ?');
    this.existsStmt = this.db.prepare('SELECT 1 FROM features WHERE fingerprint = ? AND image_hash = ?');
    this.claimOfStmt = this.db.prepare('SELECT owner, pid, claimed_at FROM claims WHERE fingerprint = ? AND image_hash = ?');
    this.claimStmt = this.db.prepare('INSERT OR REPLACE INTO claims (fingerprint, image_hash, owner, pid, claimed_at) VALUES (?, ?, ?, ?, ?)');
    this.releaseStmt = this.db.prepare('DELETE FROM claims WHERE fingerprint = ? AND image_hash = ? AND owner = ?');
  }

  /** Records what a fingerprint stands for (for `ftk info` and debugging). */
  registerModel(fingerprint: string, info: unknown): void {
    this.db
      .prepare('INSERT OR IGNORE INTO models (fingerprint, info, created_at) VALUES (?, ?, ?)')
      .run(fingerprint, JSON.stringify(info), new Date().toISOString());
  }

  /** The cached feature vector, or undefined (also for a corrupt row, which is removed). */
  get(fingerprint: string, imageHash: string): Float32Array | undefined {
    const row = this.selectStmt.get(fingerprint, imageHash) as { dim: number; checksum: string; data: Buffer } | undefined;
    if (!row) return undefined;
    if (row.data.byteLength !== row.dim * 4 || checksum(row.data) !== row.checksum) {
      this.deleteStmt.run(fingerprint, imageHash);
      return undefined;
    }
    const values = new Float32Array(row.dim);
    new Uint8Array(values.buffer).set(row.data);
    return values;
  }

  /** Stores a batch atomically. */
  putMany(fingerprint: string, items: CachedFeature[]): void {
    const tx = this.db.transaction((batch: CachedFeature[]) => {
      for (const { imageHash, values } of batch) {
        const bytes = Buffer.from(values.buffer, values.byteOffset, values.byteLength);
        this.insertStmt.run(fingerprint, imageHash, values.length, checksum(bytes), bytes);
      }
    });
    tx(items);
  }

  /** The status of each image for `owner`, without claiming anything. */
  claimStatus(fingerprint: string, imageHashes: readonly string[], owner: ClaimOwner): ClaimStatus[] {
    const now = Date.now();
    const read = this.db.transaction(() => imageHashes.map((h) => this.statusOf(fingerprint, h, owner, now)));
    return read();
  }

  /**
   * Claims images in order, up to the first one that is cached or taken by another live process;
   * returns how many were claimed (0..length). One IMMEDIATE transaction: of two processes
   * claiming the same image, exactly one gets it.
   */
  claim(fingerprint: string, imageHashes: readonly string[], owner: ClaimOwner): number {
    if (imageHashes.length === 0) return 0;
    const now = Date.now();
    const tx = this.db.transaction(() => {
      let claimed = 0;
      for (const h of imageHashes) {
        if (this.statusOf(fingerprint, h, owner, now) !== 'free') break;
        this.claimStmt.run(fingerprint, h, owner.token, owner.pid, now);
        claimed++;
      }
      return claimed;
    });
    return tx.immediate();
  }

  /** Drops `owner`'s claims on these images (all of its claims when `imageHashes` is omitted). */
  releaseClaims(fingerprint: string, owner: ClaimOwner, imageHashes?: readonly string[]): void {
    if (!imageHashes) {
      this.db.prepare('DELETE FROM claims WHERE fingerprint = ? AND owner = ?').run(fingerprint, owner.token);
      return;
    }
    const tx = this.db.transaction(() => {
      for (const h of imageHashes) this.releaseStmt.run(fingerprint, h, owner.token);
    });
    tx();
  }

  private statusOf(fingerprint: string, imageHash: string, owner: ClaimOwner, now: number): ClaimStatus {
    if (this.existsStmt.get(fingerprint, imageHash)) return 'cached';
    const c = this.claimOfStmt.get(fingerprint, imageHash) as { owner: string; pid: number; claimed_at: number } | undefined;
    if (!c || c.owner === owner.token) return 'free';
    return now - c.claimed_at < CLAIM_TTL_MS && isProcessAlive(c.pid) ? 'taken' : 'free';
  }

  /** Feature dimension stored for a fingerprint, if any row exists. */
  dimension(fingerprint: string): number | undefined {
    const row = this.db.prepare('SELECT dim FROM features WHERE fingerprint = ? LIMIT 1').get(fingerprint) as { dim: number } | undefined;
    return row?.dim;
  }

  /** Number of cached vectors, overall or for one fingerprint. */
  count(fingerprint?: string): number {
    const row = fingerprint
      ? this.db.prepare('SELECT COUNT(*) AS n FROM features WHERE fingerprint = ?').get(fingerprint)
      : this.db.prepare('SELECT COUNT(*) AS n FROM features').get();
    return (row as { n: number }).n;
  }

  /** Checks every row (length and checksum); returns the number of bad rows found. */
  verify(): { rows: number; corrupt: number } {
    let rows = 0;
    let corrupt = 0;
    for (const row of this.db.prepare('SELECT dim, checksum, data FROM features').iterate() as Iterable<{
      dim: number;
      checksum: string;
      data: Buffer;
    }>) {
      rows++;
      if (row.data.byteLength !== row.dim * 4 || checksum(row.data) !== row.checksum) corrupt++;
    }
    const integrity = this.db.pragma('integrity_check', { simple: true });
    if (integrity !== 'ok') corrupt++;
    return { rows, corrupt };
  }

  close(): void {
    this.db.close();
  }
}
