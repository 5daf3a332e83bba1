import { DateTime } from 'luxon';
import { esc, moneyBars, stackedBars, swatch, type SeriesStyle, type StackSeries } from './charts.js';
import { KINDS, LABELS, kindText, type Lang, type Labels } from './labels.js';
import { formatAmount, formatCount, formatYuan, toFen } from './money.js';
import type { OpenFinding, PageData, RunInfo } from './page-data.js';

/**
 * The finance page: one self-contained HTML document (inline CSS and SVG, no script, no URL
 * of any kind), in Chinese by default. Everything shown is escaped; amounts are formatted from
 * the database's numeric text through integer fen.
 */

export interface RenderOptions {
  lang: Lang;
  /** When the page was made; shown in its header. */
  now: Date;
}

const ZONE = 'Asia/Shanghai';

/** Kinds in chart order (most severe first), each with a fill told apart by lightness and pattern. */
export const KIND_STYLES: Record<(typeof KINDS)[number], SeriesStyle> = {
  systemic_mismatch: { color: '#3b0d0c', pattern: 'solid' },
  missing_in_ledger: { color: '#a4161a', pattern: 'solid' },
  missing_at_provider: { color: '#e5484d', pattern: 'diagonal' },
  amount_mismatch: { color: '#6e1f14', pattern: 'dots' },
  status_mismatch: { color: '#f28b82', pattern: 'solid' },
  refund_unrecorded: { color: '#c2410c', pattern: 'cross' },
  duplicate_provider_order: { color: '#fbb4ae', pattern: 'lines' },
  bill_without_order: { color: '#7c2d12', pattern: 'diagonal' },
  bill_amount_mismatch: { color: '#ea7a3b', pattern: 'dots' },
  fee_mismatch: { color: '#b45309', pattern: 'solid' },
  order_without_bill: { color: '#f5b83d', pattern: 'diagonal' },
  stale_pending_claim: { color: '#fcd98a', pattern: 'solid' },
  unresolved_provider_status: { color: '#8a6d1d', pattern: 'cross' },
  balance_low: { color: '#64748b', pattern: 'solid' },
};

const SEVERITY_MARK: Record<string, string> = { critical: '■', warning: '▲', info: '●' };

function days(from: string, to: string): string[] {
  const out: string[] = [];
  for (let d = DateTime.fromISO(from, { zone: 'utc' }); d.toISODate()! <= to; d = d.plus({ days: 1 })) out.push(d.toISODate()!);
  return out;
}

function time(d: Date | null | undefined): string {
  return d ? DateTime.fromJSDate(d).setZone(ZONE).toFormat('yyyy-MM-dd HH:mm:ss') : '—';
}

function duration(run: RunInfo): string | null {
  if (!run.finished_at) return null;
  const tenths = Math.round((run.finished_at.getTime() - run.started_at.getTime()) / 100);
  return `${Math.floor(tenths / 10)}.${tenths % 10}`;
}

const num = (n: number) => `<td class="num">${formatCount(n)}</td>`;
const money = (text: string | null) => `<td class="num">${formatAmount(text)}</td>`;

function severityBadge(l: Labels, severity: string): string {
  const label = (l.severities as Record<string, string>)[severity] ?? severity;
  return `<span class="sev sev-${esc(severity)}"><span aria-hidden="true">${SEVERITY_MARK[severity] ?? ''}</span> ${esc(label)}</span>`;
}

function statusWord(l: Labels, s: unknown): string {
  return typeof s === 'string' ? (l.statuses[s] ?? s) : '';
}

/** What a person needs to read a finding at a glance, from its details. */
function situation(l: Labels, f: OpenFinding): string {
  const d = f.details;
  const parts: string[] = [];
  // The provider's own word (成功, 退汇…) where it has one; in English with the mapped status before it.
  const own = typeof d.status_text === 'string' ? d.status_text : null;
  if (d.provider_status !== undefined) {
    parts.push(`${l.provider}: ${l.htmlLang === 'en' || own === null ? `${statusWord(l, d.provider_status)}${own === null ? '' : ` (${own})`}` : own}`);
  }
  else if (typeof d.status_text === 'string') parts.push(d.status_text);
  if (d.ledger_status !== undefined) parts.push(`${l.ledger}: ${statusWord(l, d.ledger_status)}`);
  if (d.reason === 'cutoff') parts.push(l.statuses.cutoff!);
  if (typeof d.expected_fee === 'string' && typeof d.fee === 'string') parts.push(`${l.fees}: ${formatAmount(d.fee)} ≠ ${formatAmount(d.expected_fee)}`);
  if (typeof d.message === 'string' && f.kind === 'systemic_mismatch' && typeof d.share === 'string') parts.push(`${String(d.critical_orders)}/${String(d.day_orders)}`);
  return parts.map(esc).join('<br>');
}

function differenceCell(l: Labels, f: OpenFinding): string {
  if (f.ledger_amount === null || f.provider_amount === null) return '<td class="num"></td>';
  const diff = toFen(f.provider_amount) - toFen(f.ledger_amount);
  if (diff === 0n) return '<td class="num">0.00</td>';
  return `<td class="num">${diff > 0n ? '+' : ''}${formatYuan(diff)}<br><span class="tag">${diff > 0n ? l.overpaid : l.underpaid}</span></td>`;
}

function liveCell(l: Labels, f: OpenFinding): string {
  if (f.order_id === null) return '<td class="live muted">—</td>';
  const a = f.live;
  if (a === null) return `<td class="live muted">${esc(l.liveNotAsked)}</td>`;
  const what = a.status_message ?? (a.status === null ? '' : `${a.status}${a.status_detail === null ? '' : `/${a.status_detail}`}`);
  const code = a.code !== null && a.code !== '0000' ? ` <span class="tag">${esc(a.code)}</span>` : '';
  return `<td class="live">${esc(what)}${code}<br><span class="small muted">${esc(time(a.asked_at).slice(5, 16))}</span></td>`;
}

/** The earlier row's acknowledgement of a finding that came back (lifecycle/discrepancies.ts, PREVIOUS). */
function previousAck(l: Labels, f: OpenFinding): string {
  const p = f.details.previous as { id?: unknown; ack_by?: unknown; ack_note?: unknown; ack_at?: unknown } | undefined;
  if (typeof p !== 'object' || p === null) return '';
  const str = (v: unknown) => (typeof v === 'string' ? v : '');
  const at = str(p.ack_at) === '' ? '' : time(new Date(str(p.ack_at))).slice(0, 16);
  return `<div class="previous small"><span class="muted">${esc(l.previousAck(String(p.id)))}</span><br>${str(p.ack_by) ? `<b>${esc(str(p.ack_by))}</b>` : ''}${str(p.ack_note) ? `<br>${esc(str(p.ack_note))}` : ''}${at ? `<br><span class="muted">${esc(at)}</span>` : ''}</div>`;
}

function ackCell(l: Labels, f: OpenFinding): string {
  const previous = previousAck(l, f);
  if (f.ack_by === null) return `<td class="ack${previous ? '' : ' muted'}"><span class="muted">${esc(l.notAcked)}</span>${previous}</td>`;
  return `<td class="ack"><b>${esc(f.ack_by)}</b>${f.ack_note ? `<br>${esc(f.ack_note)}` : ''}${f.ack_at ? `<br><span class="small muted">${esc(time(f.ack_at).slice(0, 16))}</span>` : ''}${previous}</td>`;
}

function verdict(l: Labels, data: PageData, periodHasRun: boolean): string {
  const b = data.backlog;
  const warnings = data.open.filter((f) => f.severity === 'warning').length;
  let cls = 'ok';
  let text = l.verdictClean;
  if (b.criticalOpen > 0) {
    cls = 'bad';
    text = l.verdictCritical(formatCount(b.criticalOpen), formatAmount(b.criticalAmount));
  } else if (b.open > 0) {
    cls = 'warn';
    text = l.verdictWarning(formatCount(warnings || b.open));
  }
  const mark = cls === 'bad' ? '■' : cls === 'warn' ? '▲' : '✓';
  const noRun = periodHasRun ? '' : `<p class="verdict warn"><span aria-hidden="true">▲</span> ${esc(l.verdictNoRun)}</p>`;
  return `<p class="verdict ${cls}" id="verdict"><span aria-hidden="true">${mark}</span> ${esc(text)}</p>${noRun}`;
}

function kpis(l: Labels, data: PageData): string {
  const sum = (k: 'opened' | 'resolvedByRuns') => data.severities.reduce((n, s) => n + s[k], 0);
  const crit = data.severities.find((s) => s.severity === 'critical')!;
  const cards: [string, string, string, string][] = [
    ['kpi-critical', l.kpiCriticalOpen, formatCount(crit.open), crit.open > 0 ? 'bad' : 'ok'],
    ['kpi-at-risk', l.kpiAtRisk, `¥${formatAmount(crit.openAmount)}`, toFen(crit.openAmount) > 0n ? 'bad' : 'ok'],
    ['kpi-new', l.kpiNew, formatCount(sum('opened')), ''],
    ['kpi-resolved', l.kpiResolved, formatCount(sum('resolvedByRuns')), ''],
    ['kpi-unacked', l.kpiUnacked, formatCount(data.backlog.unacked), data.backlog.unacked > 0 ? 'warn' : 'ok'],
    ['kpi-backlog', l.kpiBacklog, formatCount(data.backlog.open), ''],
  ];
  return `<div class="kpis">${cards.map(([id, label, value, cls]) => `<div class="kpi ${cls}" id="${id}"><div class="kpi-label">${esc(label)}</div><div class="kpi-value">${esc(value)}</div></div>`).join('')}</div>`;
}

/** Days of the period whose provider rows were pruned: said, with where their totals come from. */
function prunedNote(l: Labels, data: PageData): string {
  const { days, unrecorded } = data.pruned;
  if (days.length === 0) return '';
  const unknown = unrecorded.length === 0 ? '' : ` ${esc(l.prunedUnrecorded(unrecorded.join(', ')))}`;
  return `<p class="verdict warn" id="glance-pruned"><span aria-hidden="true">▲</span> ${esc(l.prunedNote(days.join(', ')))}${unknown}</p>`;
}

function glance(l: Labels, data: PageData): string {
  const o = data.orders;
  const b = data.bills;
  const g = data.ledger;
  const row = (id: string, side: string, cells: string) => `<tr id="${id}"><th scope="row">${esc(side)}</th>${cells}</tr>`;
  const empty = '<td class="num muted">—</td>';
  // A pruned day whose files' amounts were never recorded: only their row counts are known.
  const known = data.pruned.unrecorded.length === 0;
  const num2 = (n: number) => (known ? num(n) : empty);
  const money2 = (a: string) => (known ? money(a) : empty);
  const sides = `<table class="grid glance">
<thead><tr><th scope="col">${esc(l.side)}</th><th scope="col" class="num">${esc(l.count)}</th><th scope="col" class="num">${esc(l.amount)}</th><th scope="col" class="num">${esc(l.paid)} · ${esc(l.count)}</th><th scope="col" class="num">${esc(l.paid)} · ${esc(l.amount)}</th><th scope="col" class="num">${esc(l.returned)} · ${esc(l.count)}</th><th scope="col" class="num">${esc(l.returned)} · ${esc(l.amount)}</th><th scope="col" class="num">${esc(l.fees)}</th></tr></thead>
<tbody>
${row('glance-orders', l.orderFile, `${num(o.rows)}${money2(o.amount)}${num2(o.paid)}${money2(o.paidAmount)}${num2(o.returned)}${money2(o.returnedAmount)}${money2(o.fees)}`)}
${row('glance-bills', l.billFile, `${num(b.rows)}${empty}${num2(b.payouts)}${money2(b.payoutAmount)}${num2(b.returns)}${money2(b.returnAmount)}${money2(b.fees)}`)}
${row('glance-ledger', l.ledger, `${num(g.rows)}${money(g.amount)}${num(g.paid)}${money(g.paidAmount)}${empty}${empty}${empty}`)}
</tbody></table>
<p class="note">${esc(l.glanceNote)} ${esc(l.failed)}: ${known ? `${formatCount(o.failed)} · ¥${formatAmount(o.failedAmount)}` : '—'}. ${esc(l.billFile)} ${esc(l.rows)}: ${formatCount(b.rows)}.</p>${prunedNote(l, data)}`;
  const sev = `<table class="grid severities" id="severities">
<thead><tr><th scope="col">${esc(l.severity)}</th><th scope="col" class="num">${esc(l.open)}</th><th scope="col" class="num">${esc(l.amount)}</th><th scope="col" class="num">${esc(l.acked)}</th><th scope="col" class="num">${esc(l.resolved)}</th><th scope="col" class="num">${esc(l.newFindings)}</th><th scope="col" class="num">${esc(l.resolvedByRuns)}</th></tr></thead>
<tbody>${data.severities.map((s) => `<tr data-severity="${esc(s.severity)}"><th scope="row">${severityBadge(l, s.severity)}</th>${num(s.open)}${money(s.openAmount)}${num(s.acked)}${num(s.resolved)}${num(s.opened)}${num(s.resolvedByRuns)}</tr>`).join('')}</tbody></table>
<p class="note">${esc(l.findingsNote)}</p>`;
  return `<section class="card" id="glance"><h2>${esc(l.glance)}</h2>${sides}<h3>${esc(l.findingsBySeverity)}</h3>${sev}</section>`;
}

function history(l: Labels, data: PageData): string {
  const span = days(data.historyFrom, data.request.to);
  const succeeded = new Set(data.runsByDay.filter((r) => r.succeeded > 0).map((r) => r.business_date));
  // A day without a successful run is marked once the job had started for the dealer.
  const marked = new Set(span.filter((d) => !succeeded.has(d) && data.firstRunDay !== null && d >= data.firstRunDay));
  const present = KINDS.filter((k) => data.byKind.some((c) => c.kind === k));
  const counts = new Map(data.byKind.map((c) => [`${c.business_date} ${c.kind}`, c.count]));
  const series: StackSeries[] = present.map((k) => ({
    key: k, label: kindText(l, k).name, style: KIND_STYLES[k], values: span.map((d) => counts.get(`${d} ${k}`) ?? 0),
  }));
  const risk = new Map(data.atRisk.map((a) => [a.business_date, toFen(a.amount)]));
  const fen = span.map((d) => risk.get(d) ?? 0n);
  const legend = `<ul class="legend">${series.map((s, i) => `<li>${swatch(s.style, `sw${i}`)} ${esc(s.label)}</li>`).join('')}<li><svg class="swatch" width="14" height="14" aria-hidden="true"><rect x="0.5" y="0.5" width="13" height="13" fill="#eef0f3" stroke="#c3c8d0"/><path d="M3 3L11 11M11 3L3 11" stroke="#6b7280" stroke-width="1.5"/></svg> ${esc(l.noSuccessfulRun)}</li></ul>`;
  const mark = (d: string) => (marked.has(d) ? ` <span class="tag" title="${esc(l.noSuccessfulRun)}">✕ ${esc(l.noSuccessfulRun)}</span>` : '');
  const kindTable = `<details><summary>${esc(l.chartTable)}: ${esc(l.chartByKind)}</summary><div class="scroll"><table class="grid small" id="table-by-kind">
<thead><tr><th scope="col">${esc(l.day)}</th>${series.map((s) => `<th scope="col" class="num" data-kind="${esc(s.key)}">${esc(s.label)}</th>`).join('')}<th scope="col" class="num">${esc(l.total)}</th></tr></thead>
<tbody>${span.map((d, i) => `<tr data-day="${d}"><th scope="row">${d}${mark(d)}</th>${series.map((s) => `<td class="num" data-kind="${esc(s.key)}">${formatCount(s.values[i]!)}</td>`).join('')}<td class="num">${formatCount(series.reduce((n, s) => n + s.values[i]!, 0))}</td></tr>`).join('')}</tbody></table></div></details>`;
  const riskTable = `<details><summary>${esc(l.chartTable)}: ${esc(l.chartAtRisk)}</summary><div class="scroll"><table class="grid small" id="table-at-risk">
<thead><tr><th scope="col">${esc(l.day)}</th><th scope="col" class="num">${esc(l.chartAtRisk)}</th></tr></thead>
<tbody>${span.map((d, i) => `<tr data-day="${d}"><th scope="row">${d}${mark(d)}</th><td class="num">${formatYuan(fen[i]!)}</td></tr>`).join('')}</tbody></table></div></details>`;
  const frame = (id: string, title: string) => ({ id, title, days: span, marked, markLabel: l.noSuccessfulRun });
  return `<section class="card" id="history"><h2>${esc(l.history)} <span class="sub">${span[0]} – ${span.at(-1)}</span></h2><p class="note">${esc(l.historyNote)}</p>
<figure><figcaption>${esc(l.chartByKind)}</figcaption>${stackedBars(frame('chart-by-kind', l.chartByKind), series)}${legend}${kindTable}</figure>
<figure><figcaption>${esc(l.chartAtRisk)}</figcaption>${moneyBars(frame('chart-at-risk', l.chartAtRisk), fen, '#a4161a')}${riskTable}</figure></section>`;
}

function openTable(l: Labels, data: PageData): string {
  const rows = data.open.map((f) => {
    const k = kindText(l, f.kind);
    return `<tr class="finding sev-row-${esc(f.severity)}" data-id="${f.id}" data-kind="${esc(f.kind)}" data-severity="${esc(f.severity)}">
<td>${severityBadge(l, f.severity)}</td><td class="num">${esc(l.ageDays(f.age_days))}</td><td class="nowrap">${esc(f.business_date)}</td><td class="nowrap"><span title="${esc(k.meaning)}">${esc(k.name)}</span></td><td class="mono">${esc(f.order_id ?? '—')}</td><td class="mono small">${esc(f.provider_ref ?? '')}</td>${money(f.ledger_amount)}${money(f.provider_amount)}${differenceCell(l, f)}<td class="small">${situation(l, f)}</td>${data.liveStatus ? liveCell(l, f) : ''}${ackCell(l, f)}</tr>`;
  }).join('\n');
  const head = `<thead><tr><th scope="col">${esc(l.severity)}</th><th scope="col" class="num">${esc(l.age)}</th><th scope="col">${esc(l.businessDate)}</th><th scope="col">${esc(l.kind)}</th><th scope="col">${esc(l.orderId)}</th><th scope="col">${esc(l.providerRef)}</th><th scope="col" class="num">${esc(l.ledgerAmount)}</th><th scope="col" class="num">${esc(l.providerAmount)}</th><th scope="col" class="num">${esc(l.difference)}</th><th scope="col">${esc(l.situation)}</th>${data.liveStatus ? `<th scope="col">${esc(l.liveStatus)}</th>` : ''}<th scope="col">${esc(l.ack)}</th></tr></thead>`;
  const body = data.open.length === 0
    ? `<p class="empty">${esc(l.noOpenFindings)}</p>`
    : `<div class="scroll"><table class="grid findings" id="open-findings">${head}<tbody>${rows}</tbody></table></div>`;
  return `<section class="card" id="open"><h2>${esc(l.openFindings)}</h2><p class="note">${esc(l.openFindingsNote(formatCount(data.open.length), formatCount(data.backlog.open)))}${data.liveStatus ? '' : ` <span id="live-unavailable">${esc(l.liveUnavailable)}</span>`}</p>${body}</section>`;
}

function runHealth(l: Labels, data: PageData): string {
  const last = data.lastSuccess;
  const lastText = last === null
    ? esc(l.never)
    : `${esc(l.runOf(last.id, last.business_date))} · ${esc(time(last.finished_at))} · ${esc(l.duration)} ${esc(l.seconds(duration(last) ?? '—'))}`;
  const runs = data.runs.length === 0 ? '' : `<table class="grid small" id="runs"><thead><tr><th scope="col">#</th><th scope="col">${esc(l.businessDate)}</th><th scope="col">${esc(l.runStatus)}</th><th scope="col">${esc(l.started)}</th><th scope="col" class="num">${esc(l.duration)}</th><th scope="col" class="num">${esc(l.orderFile)} · ${esc(l.rows)}</th><th scope="col" class="num">${esc(l.billFile)} · ${esc(l.rows)}</th></tr></thead>
<tbody>${data.runs.map((r) => `<tr data-status="${esc(r.status)}"><td>${r.id}</td><td>${esc(r.business_date)}</td><td>${r.status === 'succeeded' ? '✓' : r.status === 'failed' ? '✕' : '…'} ${esc((l.runStatuses as Record<string, string>)[r.status] ?? r.status)}${r.error ? `<br><span class="small muted">${esc(r.error.slice(0, 160))}</span>` : ''}</td><td>${esc(time(r.started_at))}</td><td class="num">${esc(duration(r) ?? '—')}</td><td class="num">${r.order_rows === null ? '—' : formatCount(r.order_rows)}</td><td class="num">${r.bill_rows === null ? '—' : formatCount(r.bill_rows)}</td></tr>`).join('')}</tbody></table>`;
  const files = data.files.length === 0 ? `<p class="empty">${esc(l.noFiles)}</p>` : `<table class="grid small" id="files"><thead><tr><th scope="col">${esc(l.file)}</th><th scope="col">${esc(l.businessDate)}</th><th scope="col" class="num">${esc(l.rows)}</th><th scope="col">${esc(l.generated)}</th><th scope="col">${esc(l.sha256)}</th><th scope="col">${esc(l.ingested)}</th></tr></thead>
<tbody>${data.files.map((f) => `<tr><td>${esc(f.kind === 'order' ? l.orderFile : l.billFile)}</td><td>${esc(f.business_date)}</td><td class="num">${formatCount(f.row_count)}</td><td>${esc(time(f.generated_at))}</td><td class="mono">${esc(f.sha256.slice(0, 12))}</td><td>${esc(time(f.ingested_at))}</td></tr>`).join('')}</tbody></table>`;
  const failed = data.runs.filter((r) => r.status === 'failed').length;
  return `<section class="card" id="run-health"><h2>${esc(l.runHealth)}</h2><p><b>${esc(l.lastSuccess)}:</b> ${lastText}</p><p><b>${esc(l.runsInPeriod)}:</b> ${formatCount(data.runs.length)} · ${esc(l.failedRuns)} ${formatCount(failed)}</p>${runs}${files}</section>`;
}

function glossary(l: Labels, data: PageData): string {
  const seen = new Set([...data.byKind.map((c) => c.kind), ...data.open.map((f) => f.kind)]);
  const rows = KINDS.map((k) => {
    const t = l.kinds[k];
    return `<tr data-kind="${k}"${seen.has(k) ? ' class="seen"' : ''}><th scope="row">${swatch(KIND_STYLES[k], `g-${k}`)} ${esc(t.name)}<br><span class="mono small muted">${k}</span></th><td>${esc(t.meaning)}</td><td>${esc(t.action)}</td></tr>`;
  }).join('');
  return `<section class="card" id="glossary"><h2>${esc(l.glossary)}</h2><table class="grid glossary"><thead><tr><th scope="col">${esc(l.kind)}</th><th scope="col">${esc(l.meaning)}</th><th scope="col">${esc(l.action)}</th></tr></thead><tbody>${rows}</tbody></table>
<h3>${esc(l.howToAck)}</h3><p class="note">${esc(l.howToAckText)}</p></section>`;
}

const CSS = `
:root{--ink:#1f2937;--muted:#6b7280;--line:#e5e7eb;--bg:#f4f5f7;--card:#fff;--bad:#a4161a;--warn:#b45309;--ok:#166534;--head:#12263f}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);font:14px/1.5 -apple-system,"PingFang SC","Hiragino Sans GB","Microsoft YaHei","Noto Sans CJK SC","Source Han Sans SC","Segoe UI",Roboto,sans-serif}
header.top{background:var(--head);color:#fff;padding:20px 28px 18px}
header.top h1{margin:0 0 4px;font-size:22px;font-weight:600;letter-spacing:.02em}
header.top .meta{color:#c9d3e0;font-size:13px}
header.top .meta b{color:#fff;font-weight:600}
main{max-width:1240px;margin:0 auto;padding:18px 20px 40px}
.verdict{margin:0 0 14px;padding:12px 16px;border-radius:8px;font-size:16px;font-weight:600;border-left:6px solid}
.verdict.bad{background:#fdecec;border-color:var(--bad);color:#7a1013}
.verdict.warn{background:#fff6e5;border-color:var(--warn);color:#7a3e06}
.verdict.ok{background:#ebf7ee;border-color:var(--ok);color:#14532d}
.kpis{display:grid;grid-template-columns:repeat(6,1fr);gap:12px;margin-bottom:16px}
.kpi{background:var(--card);border-radius:8px;padding:12px 14px;box-shadow:0 1px 2px rgba(16,24,40,.08);border-top:4px solid #cbd5e1}
.kpi.bad{border-top-color:var(--bad)}.kpi.warn{border-top-color:#f5b83d}.kpi.ok{border-top-color:#4ade80}
.kpi-label{color:var(--muted);font-size:12px}
.kpi-value{font-size:22px;font-weight:650;font-variant-numeric:tabular-nums;white-space:nowrap}
.card{background:var(--card);border-radius:10px;padding:16px 20px;margin-bottom:16px;box-shadow:0 1px 2px rgba(16,24,40,.08)}
h2{font-size:17px;margin:0 0 10px}h2 .sub{font-weight:400;color:var(--muted);font-size:13px;margin-left:8px}
h3{font-size:14px;margin:16px 0 8px}
.note{color:var(--muted);font-size:12px;margin:6px 0 0}
table.grid{border-collapse:collapse;width:100%}
.grid th,.grid td{padding:6px 8px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
.grid thead th{background:#f8fafc;color:#374151;font-weight:600;font-size:12px;border-bottom:1px solid #d1d5db;white-space:nowrap}
.grid tbody tr:nth-child(even){background:#fafbfc}
.num{text-align:right!important;font-variant-numeric:tabular-nums;white-space:nowrap}
.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12px}
.small{font-size:12px}.nowrap{white-space:nowrap}.muted{color:var(--muted)}
.tag{display:inline-block;font-size:11px;padding:0 5px;border-radius:3px;background:#eef0f3;color:#374151;white-space:nowrap}
.sev{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:600;white-space:nowrap}
.sev-critical{background:#a4161a;color:#fff}
.sev-warning{background:#fde7b0;color:#6b3a06;border:1px solid #e8b44c}
.sev-info{background:#fff;color:#374151;border:1px solid #9ca3af}
tr.sev-row-critical td:first-child{box-shadow:inset 3px 0 0 #a4161a}
.ack b{color:#14532d}td.ack.muted,td.live.muted{color:var(--muted)}
.ack .previous{margin-top:4px;padding-left:6px;border-left:3px solid #f5b83d}
figure{margin:12px 0 18px}figcaption{font-weight:600;margin-bottom:4px}
svg.chart{width:100%;height:auto;display:block}
svg.chart .grid{stroke:#e5e7eb;stroke-width:1}svg.chart .axis{stroke:#9ca3af;stroke-width:1}
svg.chart text{font-size:11px;fill:#4b5563}svg.chart .mark{fill:#6b7280;font-size:12px}
svg.chart .bar{stroke:#fff;stroke-width:.6}
.legend{list-style:none;padding:0;margin:6px 0 0;display:flex;flex-wrap:wrap;gap:4px 16px;font-size:12px}
.legend li{display:flex;align-items:center;gap:5px}
.swatch{vertical-align:-2px;flex:none}
details{margin-top:6px}summary{cursor:pointer;color:#1d4ed8;font-size:12px}
.scroll{overflow-x:auto}
table.findings td{font-size:13px}
table.glossary th{width:22%}
tr.seen th{background:#fffbea}
.empty{color:var(--ok);font-weight:600}
/* Below the first screen: laid out when scrolled to, so that a day with a thousand open findings opens at once. */
#open,#run-health,#glossary{content-visibility:auto;contain-intrinsic-size:auto 1600px}
footer{color:var(--muted);font-size:12px;text-align:center;margin-top:8px}
@media (max-width:900px){.kpis{grid-template-columns:repeat(2,1fr)}}
@page{size:A4 portrait;margin:12mm 10mm}
@media print{
 body{background:#fff;font-size:10.5px;-webkit-print-color-adjust:exact;print-color-adjust:exact}
 header.top{padding:8px 0;background:#fff;color:#000;border-bottom:2px solid #000}
 header.top .meta,header.top .meta b{color:#000}
 main{max-width:none;padding:6px 0}
 .card,.kpi{box-shadow:none;border:1px solid #d1d5db;break-inside:avoid-page}
 .card{padding:8px 10px;margin-bottom:8px}
 #open,#glossary,#history{break-inside:auto}
 .kpis{grid-template-columns:repeat(6,1fr);gap:6px}.kpi-value{font-size:15px}
 details,summary{display:none}
 #open,#run-health,#glossary{content-visibility:visible}
 .scroll{overflow:visible}
 thead{display:table-header-group}tr{break-inside:avoid}
 figure{break-inside:avoid}
 .grid th,.grid td{padding:3px 4px}
 .grid thead th,.nowrap{white-space:normal}
 .mono{word-break:break-all}
 table.findings td,table.findings th{font-size:9px}
 table.glossary th{width:26%}
}
`;

export function renderReportPage(data: PageData, options: RenderOptions): string {
  const l = LABELS[options.lang];
  const { from, to, dealerId } = data.request;
  const periodHasRun = data.runsByDay.some((r) => r.business_date >= from && r.business_date <= to && r.succeeded > 0);
  const period = from === to
    ? `<b>${esc(l.businessDate)}</b> ${esc(to)}`
    : `<b>${esc(l.period)}</b> ${esc(from)} – ${esc(to)}`;
  const generated = DateTime.fromJSDate(options.now).setZone(ZONE).toFormat('yyyy-MM-dd HH:mm');
  return `<!DOCTYPE html>
<html lang="${l.htmlLang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>${esc(`${l.title} · ${dealerId} · ${from === to ? to : `${from} – ${to}`}`)}</title>
<style>${CSS}</style>
</head>
<body>
<header class="top"><h1>${esc(l.title)}</h1><div class="meta"><b>${esc(l.dealer)}</b> ${esc(dealerId)} · ${period} · <b>${esc(l.generatedAt)}</b> ${esc(generated)} (${esc(l.beijingTime)})</div></header>
<main>
${verdict(l, data, periodHasRun)}
${kpis(l, data)}
${glance(l, data)}
${history(l, data)}
${openTable(l, data)}
${runHealth(l, data)}
${glossary(l, data)}
<footer>yzh-recon · ${esc(l.title)} · ${esc(generated)}</footer>
</main>
</body>
</html>
`;
}

