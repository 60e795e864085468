/**
 * Small HTML builders shared by the report's section modules (html.ts, contest.ts): tables, lists,
 * figures, colour swatches. Every cell or item passed as HTML is escaped by the caller; plain text
 * (`list`, `missing`, `figure` captions) is escaped here.
 */
import type { PathName } from '../formats/run_report.js';
import { escapeHtml as h, PATH_COLORS, PATH_TITLES } from './format.js';

export type Section = { id: string; title: string; body: string };

export function pathName(p: PathName): string {
  return PATH_TITLES[p] ?? p;
}

export function swatch(p: PathName): string {
  return `<span class="swatch" style="background:${PATH_COLORS[p]}"></span>`;
}

export function figure(svg: string, caption?: string): string {
  return `<figure class="plot">${svg}${caption ? `<figcaption>${h(caption)}</figcaption>` : ''}</figure>`;
}

export function missing(text: string): string {
  return `<p class="missing">${h(text)}</p>`;
}

export function list(items: readonly string[]): string {
  return items.length ? `<ul>${items.map((s) => `<li>${h(s)}</li>`).join('')}</ul>` : '';
}

/**
 * A table; cells are pre-escaped HTML; `numeric` marks right-aligned columns; `groups` adds a
 * header row of column groups ([label, span]). Wide tables scroll instead of overflowing.
 */
export function table(head: string[], rows: string[][], numeric: boolean[] = [], rowClass: (i: number) => string = () => '', groups?: [string, number][]): string {
  const th = head.map((c, i) => `<th${numeric[i] ? ' class="n"' : ''}>${c}</th>`).join('');
  const group = groups ? `<tr>${groups.map(([g, span]) => `<th class="group" colspan="${span}">${g}</th>`).join('')}</tr>` : '';
  const body = rows
    .map((r, ri) => {
      const c = rowClass(ri);
      return `<tr${c ? ` class="${c}"` : ''}>${r.map((v, i) => `<td${numeric[i] ? ' class="n"' : ''}>${v}</td>`).join('')}</tr>`;
    })
    .join('');
  return `<div class="scroll"><table><thead>${group}<tr>${th}</tr></thead><tbody>${body}</tbody></table></div>`;
}

/** A two-column table of names and values (pre-escaped HTML), without a header row. */
export function kvTable(rows: [string, string][]): string {
  return `<div class="scroll"><table><tbody>${rows.map(([k, v]) => `<tr><th scope="row">${k}</th><td>${v}</td></tr>`).join('')}</tbody></table></div>`;
}

export function collapsible(summary: string, inner: string, open: boolean): string {
  return `<details${open ? ' open' : ''}><summary>${h(summary)}</summary>${inner}</details>`;
}
