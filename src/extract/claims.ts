/**
 * Several processes extracting the same images into one feature cache share the work instead of
 * each computing everything: images are claimed in the cache (FeatureCache.claim) before they are
 * decoded, a few batches ahead of the decoder, and each process works through a contiguous
 * stretch of unclaimed images. A process starts at the beginning of the largest free stretch, or
 * at its middle when another process is already working towards it (work stealing by halves), so
 * two processes meet about once per halving instead of colliding at every batch. Images claimed
 * by another live process are waited for and then read from the cache; claims of a process that
 * died are taken over.
 *
 * Identical files (same content hash) are computed once and the copies read from the cache.
 *
 * Guarantee: no image is run through the model by two processes, except an image whose claimant
 * died after computing it and before committing its batch (at most the batch in flight) or whose
 * claim outlived CLAIM_TTL_MS. A process alone walks the images in dataset order in one stretch,
 * exactly as without claims. Cost: one small transaction per batch; at each meeting with another
 * process, the decoded images past the meeting point (at most the decode window) are dropped.
 */
import { randomBytes } from 'node:crypto';
import type { ClaimOwner, ClaimStatus, FeatureCache } from './cache.js';

/** One contiguous stretch of images to decode, claimed progressively. */
export interface WorkRun {
  /** Image indices, in decode order. */
  order: number[];
  /**
   * The run ends before this position of `order`: the whole run, claimed as `extend` is called,
   * or, once it met another process' claims, up to the last image claimed.
   */
  end: number;
}

export class SharedWork {
  readonly owner: ClaimOwner = { token: `${process.pid}-${randomBytes(8).toString('hex')}`, pid: process.pid };
  /** Images still to be obtained (neither taken from a run, nor read from the cache), ascending. */
  private readonly open = new Set<number>();
  /** Images the cache said it holds but that did not load (corrupt row): computed without a claim. */
  private readonly unclaimable = new Set<number>();
  /** Content hashes of the images taken here and not failed: their copies come from the cache. */
  private readonly takenHashes = new Set<string>();
  private claimedEnd = 0;
  /** The current run met another process' claims (or cached rows): it ends at `claimedEnd`. */
  private cut = false;
  private current: WorkRun | undefined;

  /**
   * @param cache the shared cache; undefined: no sharing (one run over everything, no claims)
   * @param hashes content hash of each image index
   * @param images the image indices to obtain, in dataset order
   * @param lead how far ahead of the consumer claims must reach (decode window + one batch)
   */
  constructor(
    private readonly cache: FeatureCache | undefined,
    private readonly fingerprint: string,
    private readonly hashes: readonly (string | undefined)[],
    images: readonly number[],
    private readonly batchSize: number,
    private readonly lead: number,
  ) {
    for (const i of images) this.open.add(i);
  }

  /** Images neither taken into a run nor found in the cache yet. */
  get remaining(): number {
    return this.open.size;
  }

  /**
   * Plans the next run. Returns the images found in the cache meanwhile (computed by another
   * process: read them), and a run, or no run when every open image is claimed by another live
   * process (wait a little and call again).
   */
  next(): { cached: number[]; run?: WorkRun } {
    if (!this.cache) return { cached: [], run: this.start([...this.open].sort((a, b) => a - b)) };
    const cached: number[] = [];
    for (let attempt = 0; attempt < 8; attempt++) {
      const open = [...this.open].sort((a, b) => a - b);
      const forced = open.filter((i) => this.unclaimable.has(i));
      if (forced.length) {
        for (const i of forced) this.open.delete(i);
        this.current = undefined;
        return { cached, run: { order: forced, end: forced.length } };
      }
      const status = this.cache.claimStatus(this.fingerprint, open.map((i) => this.hashes[i]!), this.owner);
      // Identical files are computed once: only the first copy of a content hash is planned, and
      // none whose hash was taken here (its row reaches the cache with our next commit).
      const seen = new Set<string>(this.takenHashes);
      const plan: number[] = [];
      const planStatus: ClaimStatus[] = [];
      open.forEach((i, k) => {
        if (status[k] === 'cached') {
          cached.push(i);
          this.open.delete(i);
          return;
        }
        const h = this.hashes[i]!;
        if (seen.has(h)) return;
        seen.add(h);
        plan.push(i);
        planStatus.push(status[k]);
      });
      // Free stretches of the plan, and whether another process works just before each.
      let best: { from: number; to: number; chased: boolean } | undefined;
      for (let k = 0; k < plan.length; ) {
        if (planStatus[k] !== 'free') {
          k++;
          continue;
        }
        const from = k;
        while (k < plan.length && planStatus[k] === 'free') k++;
        const stretch = { from, to: k, chased: from > 0 && planStatus[from - 1] === 'taken' };
        if (!best || stretch.to - stretch.from > best.to - best.from) best = stretch;
      }
      if (!best) return { cached };
      const length = best.to - best.from;
      const from = best.chased && length > this.batchSize ? best.from + Math.floor(length / 2) : best.from;
      const run = this.start(plan.slice(from, best.to));
      if (run.end > 0) return { cached, run };
      // Another process claimed the start of that stretch between our read and our claim: look again.
    }
    return { cached };
  }

  /** Claims more of the current run now that `consumed` of its images have been taken. */
  extend(consumed: number): void {
    const run = this.current;
    if (!run || !this.cache || this.cut) return;
    const target = Math.min(run.order.length, consumed + this.lead);
    if (target <= this.claimedEnd) return;
    const want = run.order.slice(this.claimedEnd, target);
    const got = this.cache.claim(this.fingerprint, want.map((i) => this.hashes[i]!), this.owner);
    this.claimedEnd += got;
    if (got < want.length) {
      this.cut = true;
      run.end = this.claimedEnd;
    }
  }

  /** The image at this position of the current run is taken (decoded, to be computed or skipped). */
  take(i: number): void {
    this.open.delete(i);
    this.takenHashes.add(this.hashes[i]!);
  }

  /** A taken image could not be decoded: its claim is released, copies of it are planned again. */
  failed(i: number): void {
    this.takenHashes.delete(this.hashes[i]!);
    this.release([i]);
  }

  /** The cache listed this image but could not return it: it will be computed without a claim. */
  reopen(i: number): void {
    this.unclaimable.add(i);
    this.open.add(i);
  }

  /** Releases claims on images now committed to the cache or skipped. */
  release(indices: readonly number[]): void {
    if (!this.cache || indices.length === 0) return;
    this.cache.releaseClaims(this.fingerprint, this.owner, indices.map((i) => this.hashes[i]!));
  }

  /** Releases every claim this extraction still holds. */
  releaseAll(): void {
    this.cache?.releaseClaims(this.fingerprint, this.owner);
  }

  private start(order: number[]): WorkRun {
    const run: WorkRun = { order, end: order.length };
    this.current = run;
    this.claimedEnd = 0;
    this.cut = false;
    this.extend(0);
    return run;
  }
}
