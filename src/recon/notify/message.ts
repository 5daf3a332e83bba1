import { sql } from 'kysely';
import type { Session } from '../../db/connection.js';
import { formatAmount, formatCount } from '../report/money.js';
import { kindText, LABELS } from '../report/labels.js';

/**
 * What a chat message says after a run (docs/contract.md section 5), in Chinese: the day, the run's
 * outcome, new and open critical findings, money at risk, the five largest open findings and
 * the page link. Outside text (order ids, error messages, the dealer) is shown in code spans,
 * never as markdown, with bidi and zero-width controls made visible.
 */

export interface LargestFinding {
  id: number;
  business_date: string;
  severity: string;
  kind: string;
  order_id: string | null;
  provider_ref: string | null;
  amount: string | null;
}

export interface RunFacts {
  dealerId: string;
  date: string;
  outcome: 'succeeded' | 'failed' | 'test';
  runId: number | null;
  /** The failed run's cause (one line). */
  error: string | null;
  durationSeconds: number | null;
  /** Findings the run opened, and how many of them are critical (null: the database could not say). */
  opened: number | null;
  newCritical: number | null;
  openCritical: number | null;
  /** Numeric text: the amounts of the open critical findings. */
  atRisk: string | null;
  largest: LargestFinding[];
  reportUrl: string | null;
}

/** Bidi overrides and isolates, zero-width characters, other invisible format characters: shown as ⟨U+XXXX⟩. */
// eslint-disable-next-line no-control-regex, no-misleading-character-class
const INVISIBLE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u115f\u1160\u180e\u200b-\u200f\u202a-\u202e\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff9-\ufffb]/g;

export function visible(text: string): string {
  return text.replace(INVISIBLE, (c) => `⟨U+${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}⟩`);
}

/** Outside text as an inline code span on one line: no markdown, link or mention inside it takes effect. */
export function code(text: string, max = 200): string {
  let one = visible(text.replace(/\r?\n|\t/g, ' ')).replace(/`/g, 'ˋ');
  if (one.length > max) one = `${one.slice(0, max - 1)}…`;
  return `\`${one}\``;
}

/** The facts a message needs, read after the run (or after a failed run: what is in the database). */
export async function collectFacts(session: Session, dealerId: string, date: string, runId: number | null): Promise<Pick<RunFacts, 'opened' | 'newCritical' | 'openCritical' | 'atRisk' | 'largest'>> {
  // Counts are bigint and sums numeric: the connection gives them as a number and as text.
  const run = runId ?? -1;
  const counts = await session.db
    .selectFrom('recon.discrepancies')
    .select((eb) => {
      const openCritical = eb.and([eb('status', '=', 'open'), eb('severity', '=', 'critical'), eb('business_date', '<=', date)]);
      return [
        eb.fn.countAll<number>().filterWhere('first_seen_run_id', '=', run).as('opened'),
        eb.fn.countAll<number>().filterWhere((eb) => eb.and([eb('first_seen_run_id', '=', run), eb('severity', '=', 'critical')])).as('new_critical'),
        eb.fn.countAll<number>().filterWhere(openCritical).as('open_critical'),
        eb.fn.coalesce(eb.fn.sum<string>(eb.fn.coalesce('provider_amount', 'ledger_amount')).filterWhere(openCritical), sql<string>`0`).as('at_risk'),
      ];
    })
    .where('dealer_id', '=', dealerId)
    .where((eb) => eb.or([eb('status', '=', 'open'), eb('first_seen_run_id', '=', run)]))
    .executeTakeFirstOrThrow();
  const largest: LargestFinding[] = await session.db
    .selectFrom('recon.discrepancies')
    .select((eb) => ['id', 'business_date', 'severity', 'kind', 'order_id', 'provider_ref', eb.fn.coalesce('provider_amount', 'ledger_amount').as('amount')])
    .where('dealer_id', '=', dealerId)
    .where('status', '=', 'open')
    .where('business_date', '<=', date)
    .where((eb) => eb(eb.fn.coalesce('provider_amount', 'ledger_amount'), 'is not', null))
    .orderBy((eb) => eb.fn('abs', [eb.fn.coalesce('provider_amount', 'ledger_amount')]), 'desc')
    .orderBy((eb) => eb.case().when('severity', '=', 'critical').then(0).when('severity', '=', 'warning').then(1).else(2).end())
    .orderBy('id')
    .limit(5)
    .execute();
  return {
    opened: runId === null ? null : counts.opened,
    newCritical: runId === null ? null : counts.new_critical,
    openCritical: counts.open_critical,
    atRisk: counts.at_risk,
    largest,
  };
}

export function reportLink(template: string | undefined, date: string): string | null {
  return template === undefined ? null : template.replaceAll('{date}', encodeURIComponent(date));
}

export function messageTitle(f: RunFacts): string {
  const outcome = f.outcome === 'test' ? '测试消息' : f.outcome === 'succeeded' ? '对账完成' : '对账失败';
  return `云账户对账 ${f.date} ${outcome}`;
}

/** The message as markdown lines (the subset 企业微信, 钉钉 and 飞书 cards all render). */
export function messageMarkdown(f: RunFacts): string {
  const l = LABELS.zh;
  const lines: string[] = [];
  lines.push(`### ${messageTitle(f)}`);
  lines.push(`**商户**：${code(f.dealerId)}\u3000**对账日**：${f.date}`);
  if (f.outcome === 'test') {
    lines.push('这是一条测试消息：Webhook 与签名配置正确，每次对账运行后会在这里收到结果。');
  } else if (f.outcome === 'succeeded') {
    const took = f.durationSeconds === null ? '' : `，用时 ${f.durationSeconds.toFixed(1)} 秒`;
    lines.push(`**运行结果**：成功（运行 ${f.runId ?? '-'}${took}）`);
  } else {
    lines.push("**运行结果**：**失败**");
    lines.push(`**原因**：${code(f.error ?? '未知错误', 300)}`);
  }
  if (f.outcome !== 'test') {
    const n = (v: number | null) => (v === null ? '-' : formatCount(v));
    if (f.outcome === 'succeeded') lines.push(`**本次新增差异**：${n(f.opened)}（其中严重 ${n(f.newCritical)}）`);
    lines.push(`**待处理严重差异**：${n(f.openCritical)}\u3000**风险金额**：¥${f.atRisk === null ? '-' : formatAmount(f.atRisk)}`);
    if (f.largest.length > 0) {
      lines.push('**金额最大的待处理差异**：');
      f.largest.forEach((x, i) => {
        const severity = l.severities[x.severity as keyof typeof l.severities] ?? x.severity;
        const ref = x.order_id !== null ? `商户订单号 ${code(x.order_id, 64)}` : x.provider_ref !== null ? `订单流水号 ${code(x.provider_ref, 64)}` : `编号 ${x.id}`;
        lines.push(`${i + 1}. ${severity} · ${kindText(l, x.kind).name} · ${x.business_date} · ${ref} · ¥${formatAmount(x.amount)}`);
      });
    } else if (f.openCritical !== null) {
      lines.push('没有待处理的带金额差异。');
    }
  }
  if (f.reportUrl !== null) lines.push(`[打开对账日报](${f.reportUrl})`);
  return lines.join('\n');
}

/** The plain JSON body for any other webhook: the same facts, amounts as numeric text. */
export function messageJson(f: RunFacts): Record<string, unknown> {
  return {
    event: f.outcome === 'test' ? 'yzh-recon.test' : 'yzh-recon.run',
    dealer_id: f.dealerId,
    business_date: f.date,
    outcome: f.outcome,
    run_id: f.runId,
    error: f.error,
    duration_seconds: f.durationSeconds,
    new_findings: f.opened,
    new_critical: f.newCritical,
    open_critical: f.openCritical,
    at_risk: f.atRisk,
    largest_open: f.largest,
    report_url: f.reportUrl,
    title: messageTitle(f),
    text: messageMarkdown(f),
  };
}
