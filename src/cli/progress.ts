/** Progress display for the CLI: a one-line bar on a TTY, nothing when piped or with --json. */
export interface ProgressLine {
  label: string;
  done: number;
  total: number;
  imagesPerSecond?: number;
  etaSeconds?: number;
  extra?: string;
}

function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return '--';
  if (s < 60) return `${Math.round(s)}s`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m}m${String(Math.round(s % 60)).padStart(2, '0')}s` : `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

export class ProgressBar {
  private lastDraw = 0;
  private drawn = false;

  constructor(
    private readonly stream: NodeJS.WriteStream = process.stderr,
    private readonly enabled = Boolean(process.stderr.isTTY),
  ) {}

  update(p: ProgressLine, force = false): void {
    if (!this.enabled) return;
    const now = Date.now();
    if (!force && now - this.lastDraw < 100 && p.done < p.total) return;
    this.lastDraw = now;
    const width = 24;
    const frac = p.total > 0 ? Math.min(1, p.done / p.total) : 1;
    const filled = Math.round(frac * width);
    const bar = '#'.repeat(filled) + '.'.repeat(width - filled);
    const rate = p.imagesPerSecond !== undefined ? ` ${p.imagesPerSecond.toFixed(1)} img/s` : '';
    const eta = p.etaSeconds !== undefined && p.done < p.total ? ` ETA ${formatSeconds(p.etaSeconds)}` : '';
    const extra = p.extra ? ` ${p.extra}` : '';
    this.stream.write(`\r\x1b[2K${p.label} [${bar}] ${p.done}/${p.total}${rate}${eta}${extra}`);
    this.drawn = true;
  }

  /** Ends the current line, if one was drawn. */
  done(): void {
    if (this.enabled && this.drawn) this.stream.write('\n');
    this.drawn = false;
  }
}

/**
 * The callbacks of a staged job (`auto`, `bench`): stage lines and warnings printed above the
 * progress bar (stage lines on stderr under --json, so stdout stays one JSON document).
 */
export function stagedJobCallbacks(
  out: { info(m: string): void; warn(m: string): void },
  bar: ProgressBar,
  json: boolean,
): {
  onStage: (m: string) => void;
  onWarning: (m: string) => void;
  onProgress: (p: { stage: string; done: number; total: number; imagesPerSecond?: number }) => void;
} {
  return {
    onStage: (m) => {
      bar.done();
      if (json) process.stderr.write(`${m}\n`);
      else out.info(m);
    },
    onWarning: (m) => {
      bar.done();
      out.warn(m);
    },
    onProgress: (p) => bar.update({ label: p.stage, done: p.done, total: p.total, imagesPerSecond: p.imagesPerSecond }),
  };
}
