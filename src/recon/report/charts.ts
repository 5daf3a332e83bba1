import { formatCount, formatYuan } from './money.js';
import { showControls } from './visible.js';

/**
 * The page's two charts, drawn as inline SVG from the numbers (no charting library, nothing
 * fetched). Series are told apart by lightness and by fill pattern, not by hue alone, so that
 * the charts read in grayscale and on a black-and-white printer; every chart has a table
 * beside it with the same numbers (html.ts).
 */

export interface SeriesStyle {
  color: string;
  pattern: 'solid' | 'diagonal' | 'dots' | 'cross' | 'lines';
}

export interface StackSeries {
  key: string;
  label: string;
  style: SeriesStyle;
  /** One value per day, in the order of `days`. */
  values: number[];
}

export interface ChartFrame {
  id: string;
  title: string;
  days: string[];
  /** Days to mark (no successful run), and the mark's caption. */
  marked: Set<string>;
  markLabel: string;
}

const W = 960;
const H = 250;
const PAD = { left: 64, right: 12, top: 14, bottom: 44 };
const PLOT_W = W - PAD.left - PAD.right;
const PLOT_H = H - PAD.top - PAD.bottom;

/** HTML-escaped, with bidirectional and zero-width controls shown (visible.ts): every text on the page goes through it. */
export const esc = (s: string): string =>
  showControls(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');

/** A step of 1, 2 or 5 × 10^k giving at most `ticks` steps up to `max`. */
function niceStep(max: bigint, ticks: number): bigint {
  if (max <= 0n) return 1n;
  let pow = 1n;
  for (;;) {
    for (const m of [1n, 2n, 5n]) {
      if (m * pow * BigInt(ticks) >= max) return m * pow;
    }
    pow *= 10n;
  }
}

function patternDefs(id: string, styles: SeriesStyle[]): string {
  return styles.map((s, i) => {
    const pid = `${id}-p${i}`;
    const bg = `<rect width="8" height="8" fill="${s.color}"/>`;
    const ink = 'stroke="#fff" stroke-opacity="0.85"';
    switch (s.pattern) {
      case 'diagonal': return `<pattern id="${pid}" width="8" height="8" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">${bg}<line x1="0" y1="0" x2="0" y2="8" ${ink} stroke-width="3"/></pattern>`;
      case 'lines': return `<pattern id="${pid}" width="8" height="8" patternUnits="userSpaceOnUse">${bg}<line x1="0" y1="4" x2="8" y2="4" ${ink} stroke-width="2"/></pattern>`;
      case 'dots': return `<pattern id="${pid}" width="8" height="8" patternUnits="userSpaceOnUse">${bg}<circle cx="4" cy="4" r="1.6" fill="#fff" fill-opacity="0.9"/></pattern>`;
      case 'cross': return `<pattern id="${pid}" width="8" height="8" patternUnits="userSpaceOnUse">${bg}<path d="M0 0L8 8M8 0L0 8" ${ink} stroke-width="1.3"/></pattern>`;
      default: return '';
    }
  }).join('');
}

export function seriesFill(id: string, style: SeriesStyle, index: number): string {
  return style.pattern === 'solid' ? style.color : `url(#${id}-p${index})`;
}

/** A small swatch for a legend, with the same fill as the chart's series; `id` is unique on the page. */
export function swatch(style: SeriesStyle, id: string): string {
  const defs = style.pattern === 'solid' ? '' : `<defs>${patternDefs(id, [style])}</defs>`;
  return `<svg class="swatch" width="14" height="14" viewBox="0 0 14 14" aria-hidden="true">${defs}<rect x="0.5" y="0.5" width="13" height="13" rx="2" fill="${seriesFill(id, style, 0)}" stroke="#1f2937" stroke-opacity="0.35"/></svg>`;
}

function axisAndMarks(frame: ChartFrame, ticks: { value: string; y: number }[], slot: number): string {
  const parts: string[] = [];
  frame.days.forEach((day, i) => {
    if (!frame.marked.has(day)) return;
    const x = PAD.left + i * slot;
    parts.push(`<rect class="nodata" x="${x.toFixed(1)}" y="${PAD.top}" width="${slot.toFixed(1)}" height="${PLOT_H}" fill="url(#${frame.id}-nodata)"><title>${esc(`${day} · ${frame.markLabel}`)}</title></rect>`);
    parts.push(`<text class="mark" x="${(x + slot / 2).toFixed(1)}" y="${PAD.top + PLOT_H + 30}" text-anchor="middle">✕</text>`);
  });
  for (const t of ticks) {
    parts.push(`<line x1="${PAD.left}" x2="${W - PAD.right}" y1="${t.y.toFixed(1)}" y2="${t.y.toFixed(1)}" class="grid"/>`);
    parts.push(`<text class="tick" x="${PAD.left - 6}" y="${(t.y + 4).toFixed(1)}" text-anchor="end">${esc(t.value)}</text>`);
  }
  const every = Math.max(1, Math.ceil(frame.days.length / 10));
  frame.days.forEach((day, i) => {
    if ((frame.days.length - 1 - i) % every !== 0) return;
    parts.push(`<text class="tick" x="${(PAD.left + i * slot + slot / 2).toFixed(1)}" y="${PAD.top + PLOT_H + 16}" text-anchor="middle">${esc(day.slice(5))}</text>`);
  });
  parts.push(`<line x1="${PAD.left}" x2="${W - PAD.right}" y1="${PAD.top + PLOT_H}" y2="${PAD.top + PLOT_H}" class="axis"/>`);
  return parts.join('');
}

function svgOpen(frame: ChartFrame, defs: string): string {
  const nodata = `<pattern id="${frame.id}-nodata" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" fill="#eef0f3"/><line x1="0" y1="0" x2="0" y2="6" stroke="#c3c8d0" stroke-width="2"/></pattern>`;
  return `<svg class="chart" id="${frame.id}" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-labelledby="${frame.id}-title" preserveAspectRatio="xMidYMid meet"><title id="${frame.id}-title">${esc(frame.title)}</title><defs>${nodata}${defs}</defs>`;
}

/** Counts per day, stacked by series. */
export function stackedBars(frame: ChartFrame, series: StackSeries[]): string {
  const totals = frame.days.map((_, i) => series.reduce((n, s) => n + s.values[i]!, 0));
  const step = Number(niceStep(BigInt(Math.max(0, ...totals)), 4));
  const top = Math.max(step, Math.ceil(Math.max(0, ...totals) / step) * step);
  const slot = PLOT_W / frame.days.length;
  const barW = Math.max(2, slot * 0.68);
  const y = (v: number) => PAD.top + PLOT_H - (v / top) * PLOT_H;
  const ticks = [];
  for (let v = 0; v <= top; v += step) ticks.push({ value: formatCount(v), y: y(v) });
  const bars: string[] = [];
  frame.days.forEach((day, i) => {
    let base = 0;
    const x = PAD.left + i * slot + (slot - barW) / 2;
    series.forEach((s, k) => {
      const v = s.values[i]!;
      if (v === 0) return;
      const y0 = y(base);
      const y1 = y(base + v);
      bars.push(`<rect class="bar" data-day="${day}" data-series="${esc(s.key)}" data-value="${v}" x="${x.toFixed(1)}" y="${y1.toFixed(1)}" width="${barW.toFixed(1)}" height="${(y0 - y1).toFixed(1)}" fill="${seriesFill(frame.id, s.style, k)}"><title>${esc(`${day} · ${s.label}: ${formatCount(v)}`)}</title></rect>`);
      base += v;
    });
  });
  return `${svgOpen(frame, patternDefs(frame.id, series.map((s) => s.style)))}${axisAndMarks(frame, ticks, slot)}<g class="bars">${bars.join('')}</g></svg>`;
}

/** Money per day (fen), one bar each. */
export function moneyBars(frame: ChartFrame, fen: bigint[], color: string): string {
  const max = fen.reduce((m, v) => (v > m ? v : m), 0n);
  // Ticks in whole yuan: a step of 1, 2 or 5 × 10^k yuan.
  const step = niceStep((max + 99n) / 100n, 4) * 100n;
  const top = max <= 0n ? step : ((max + step - 1n) / step) * step;
  const slot = PLOT_W / frame.days.length;
  const barW = Math.max(2, slot * 0.68);
  // Heights in thousandths of the plot, computed on integers: no amount passes through a float.
  const y = (v: bigint) => PAD.top + PLOT_H - Number((v * 1000n) / top) * PLOT_H / 1000;
  const ticks = [];
  for (let v = 0n; v <= top; v += step) ticks.push({ value: formatYuan(v).replace(/\.00$/, ''), y: y(v) });
  const bars: string[] = [];
  frame.days.forEach((day, i) => {
    const v = fen[i]!;
    if (v <= 0n) return;
    const x = PAD.left + i * slot + (slot - barW) / 2;
    const y1 = y(v);
    bars.push(`<rect class="bar" data-day="${day}" data-fen="${v}" x="${x.toFixed(1)}" y="${y1.toFixed(1)}" width="${barW.toFixed(1)}" height="${Math.max(1, PAD.top + PLOT_H - y1).toFixed(1)}" fill="${color}"><title>${esc(`${day} · ¥${formatYuan(v)}`)}</title></rect>`);
  });
  return `${svgOpen(frame, '')}${axisAndMarks(frame, ticks, slot)}<g class="bars">${bars.join('')}</g></svg>`;
}
