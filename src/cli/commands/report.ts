/** `ftk report <run dir> [--out <dir>] [--json]`: run.json -> report.html, report.md, report.json. */
import { Command } from 'commander';
import { makeOutput } from '../io.js';

export interface ReportContext {
  /** A run folder (holding run.json) or the run.json file itself. */
  runDir: string;
  /** Output folder; default: the run folder. */
  out?: string;
  json: boolean;
}

export async function runReport(ctx: ReportContext): Promise<number> {
  const out = makeOutput(ctx.json);
  const { writeReport } = await import('../../report/report.js');
  const r = await writeReport(ctx.runDir, { out: ctx.out, onWarning: (m) => out.warn(m) });
  out.result(
    { html: r.html, markdown: r.markdown, json: r.json, chosen: r.run.decision.chosen, warnings: r.warnings },
    [`decision: ${r.run.decision.chosen}`, `wrote ${r.html}`, `wrote ${r.markdown}`, `wrote ${r.json}`].join('\n'),
  );
  return 0;
}

export function reportCommand(action: (ctx: ReportContext) => Promise<number> = runReport): Command {
  return new Command('report')
    .description('Render the report of an `ftk auto` run: report.html (self-contained), report.md and report.json')
    .argument('<run dir>', 'folder written by `ftk auto --out` (holds run.json), or the run.json file')
    .option('--out <dir>', 'write the reports here (default: the run folder)')
    .option('--json', 'print the written paths as JSON')
    .action(async (runDir: string, raw: Record<string, any>) => {
      process.exitCode = await action({ runDir, out: raw.out, json: Boolean(raw.json) });
    });
}
