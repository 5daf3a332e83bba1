import type { Session } from '../db/connection.js';

/** The share of a day's orders with new critical findings above which a run says so once. */
export const SYSTEMIC_SHARE = 0.2;

export interface FindingCount {
  kind: string;
  severity: string;
  count: number;
}

export interface LifecycleResult {
  /** What this run found, by kind and severity (all days it re-checked). */
  findings: FindingCount[];
  opened: number;
  openedBySeverity: Record<string, number>;
  stillOpen: number;
  resolved: number;
  systemic: boolean;
}

/**
 * A finding's identity: (dealer, day, kind, order), and for a row without an order its
 * provider_ref too, so that balance_low of two channels on one day are two findings
 * (provider_ref '<broker_id>/<channel>'; sql/0005 has the matching unique indexes).
 */
const SAME_KEY = `d.dealer_id = p.dealer_id and d.status = 'open' and d.business_date = f.business_date
  and d.kind = f.kind and coalesce(d.order_id, '') = coalesce(f.order_id, '')
  and (d.order_id is not null or coalesce(d.provider_ref, '') = coalesce(f.provider_ref, ''))`;

/**
 * The systemic check. "New" criticals decide the first time; afterwards an open
 * systemic_mismatch holds while the day's criticals stay above the share, so that a re-run on
 * the same files (whose criticals are no longer new) leaves it as it was.
 */
const SYSTEMIC_SQL = `
  insert into recon_findings
  with counts as materialized (
    select
      (select count(distinct f.order_id) from recon_findings f
        where f.severity = 'critical' and f.business_date = p.day and f.order_id is not null
          and not exists (select 1 from recon.discrepancies d where ${SAME_KEY})) as new_critical,
      (select count(distinct f.order_id) from recon_findings f
        where f.severity = 'critical' and f.business_date = p.day and f.order_id is not null) as critical,
      (select count(*) from recon_order_state where in_day_file) as file_orders,
      (select count(*) from recon.ledger_payouts l
        where l.dealer_id = p.dealer_id and l.created_at >= p.day_start and l.created_at < p.day_end) as ledger_orders
      from recon_params p
  ), n as materialized (
    -- The day's orders: in D's order file or created on D in the ledger. That is at least the
    -- larger of the two counts, so their union (a join) is counted only when the criticals
    -- exceed the share of that.
    select c.new_critical, c.critical,
           case when c.critical > ${SYSTEMIC_SHARE} * greatest(c.file_orders, c.ledger_orders)
                then c.file_orders + (select count(*) from recon.ledger_payouts l
                                       where l.dealer_id = p.dealer_id and l.created_at >= p.day_start and l.created_at < p.day_end
                                         and not exists (select 1 from recon_order_state o
                                                          where o.order_id = l.order_id and o.in_day_file))
                else greatest(c.file_orders, c.ledger_orders) end as day_orders
      from counts c cross join recon_params p
  )
  select p.day, 'systemic_mismatch', 'critical', null, null, null, null,
         jsonb_build_object('critical_orders', n.critical, 'day_orders', n.day_orders,
                            'share', round(n.critical::numeric / n.day_orders, 4)::text,
                            'message', 'critical findings for more than ${SYSTEMIC_SHARE * 100}% of the day''s orders: check the files, the parser and the ledger view before acting on single rows')
    from n cross join recon_params p
   where n.day_orders > 0
     and (n.new_critical > ${SYSTEMIC_SHARE} * n.day_orders
          or (n.critical > ${SYSTEMIC_SHARE} * n.day_orders
              and exists (select 1 from recon.discrepancies d where d.dealer_id = p.dealer_id and d.status = 'open'
                             and d.business_date = p.day and d.kind = 'systemic_mismatch')))`;

/**
 * Writes recon_findings into recon.discrepancies: refreshes the open rows that still hold,
 * opens the new ones, resolves the open ones in scope that no longer hold. Never touches the
 * ack_* columns.
 */
export async function applyFindings(session: Session, runId: number): Promise<LifecycleResult> {
  const systemic = await session.query(SYSTEMIC_SQL);
  const refreshed = await session.query(
    `update recon.discrepancies d
        set last_seen_run_id = $1, severity = f.severity, provider_ref = f.provider_ref,
            ledger_amount = f.ledger_amount, provider_amount = f.provider_amount, details = f.details
       from recon_findings f, recon_params p
      where ${SAME_KEY}`,
    [runId],
  );
  const opened = await session.query<{ severity: string; n: number }>(
    `with inserted as (
     insert into recon.discrepancies
       (dealer_id, business_date, kind, severity, order_id, provider_ref, ledger_amount, provider_amount, details,
        first_seen_run_id, last_seen_run_id)
     select p.dealer_id, f.business_date, f.kind, f.severity, f.order_id, f.provider_ref, f.ledger_amount,
            f.provider_amount, f.details, $1, $1
       from recon_findings f cross join recon_params p
      where not exists (select 1 from recon.discrepancies d where ${SAME_KEY})
     returning severity)
     select severity, count(*)::int as n from inserted group by severity`,
    [runId],
  );
  const openedBySeverity = Object.fromEntries(opened.rows.map((r) => [r.severity, r.n]));
  const resolved = await session.query(
    `update recon.discrepancies d
        set status = 'resolved', resolved_run_id = $1, resolved_at = now()
       from recon_params p
      where d.dealer_id = p.dealer_id and d.status = 'open' and d.last_seen_run_id <> $1
        -- Every open row's order is in scope (recon_extra takes them all), so each was judged
        -- again; the file-level ones belong to the day.
        and (d.order_id is not null or d.business_date = p.day)`,
    [runId],
  );
  const counts = await session.query<FindingCount>(
    `select kind, severity, count(*)::int as count from recon_findings group by kind, severity
      order by case severity when 'critical' then 0 when 'warning' then 1 else 2 end, kind`,
  );
  return {
    findings: counts.rows,
    opened: opened.rows.reduce((sum, r) => sum + r.n, 0),
    openedBySeverity,
    stillOpen: refreshed.rowCount,
    resolved: resolved.rowCount,
    systemic: systemic.rowCount > 0,
  };
}
