/**
 * Every temporary table and view a run makes, in the order it makes them: what each holds,
 * which module creates it and which read it. They live on the run's connection inside its
 * transaction and are dropped at commit (`on commit drop`, or DROP_ROW_VIEWS_SQL for the
 * views). The names are all a module shares with another: a statement that reads one of them
 * must be in a module listed here as its reader (test/sql-snapshots/run-scratch.test.ts checks
 * the list against the source).
 */
export interface ScratchObject {
  /** Its name; `{kind}` stands for `order` or `bill`. */
  name: string;
  kind: 'table' | 'view';
  holds: string;
  /** The module (path under src/) whose SQL creates it. */
  createdBy: string;
  /** The other modules whose SQL reads or changes it (or, for recon_order_multi and recon_bill_multi, may create it first). */
  readBy: readonly string[];
}

export const RUN_SCRATCH: readonly ScratchObject[] = [
  {
    name: 'recon_stage_{kind}', kind: 'table', createdBy: 'recon/load/staging.ts', readBy: [],
    holds: 'a file\'s records as text, for the files the typed COPY gave up on; converted into the load table',
  },
  {
    name: 'recon_order_multi', kind: 'table', createdBy: 'recon/match/match-state.ts', readBy: ['recon/load/server-loader.ts'],
    holds: 'the order ids seen on two or more rows of the day\'s order file: the server\'s loader knows them from its framing and creates it first; otherwise match-state.ts counts them',
  },
  {
    name: 'recon_bill_multi', kind: 'table', createdBy: 'recon/match/match-state.ts', readBy: ['recon/load/server-loader.ts'],
    holds: 'the order ids of the day\'s bill file whose rows are not one 成功 经纪公司打款 and one 成功 服务费 row at most: the server\'s loader knows them from its framing and creates it first; otherwise match-state.ts counts them',
  },
  {
    name: 'recon_day_orders', kind: 'view', createdBy: 'recon/load/day-tables.ts', readBy: ['recon/match/match-state.ts'],
    holds: 'day D\'s order rows: the table this run loaded, or the day\'s partition',
  },
  {
    name: 'recon_day_bills', kind: 'view', createdBy: 'recon/load/day-tables.ts', readBy: ['recon/match/match-state.ts'],
    holds: 'day D\'s bill rows',
  },
  {
    name: 'recon_orders', kind: 'view', createdBy: 'recon/load/day-tables.ts',
    readBy: ['recon/match/match-state.ts', 'recon/match/ref-state.ts', 'recon/live/order-checks.ts', 'recon/lifecycle/discrepancies.ts'],
    holds: 'every day\'s order rows of the dealer, as the run will leave them',
  },
  {
    name: 'recon_bills', kind: 'view', createdBy: 'recon/load/day-tables.ts',
    readBy: ['recon/match/match-state.ts', 'recon/match/ref-state.ts', 'recon/match/rules.ts'],
    holds: 'every day\'s bill rows of the dealer',
  },
  {
    name: 'recon_other_orders', kind: 'view', createdBy: 'recon/load/day-tables.ts', readBy: ['recon/match/match-state.ts'],
    holds: 'the order rows of the days other than D',
  },
  {
    name: 'recon_other_bills', kind: 'view', createdBy: 'recon/load/day-tables.ts', readBy: ['recon/match/match-state.ts'],
    holds: 'the bill rows of the days other than D',
  },
  {
    name: 'recon_window_orders', kind: 'view', createdBy: 'recon/load/day-tables.ts', readBy: ['recon/match/match-state.ts'],
    holds: 'the order rows within YZH_DUPLICATE_WINDOW_DAYS of D, D left out',
  },
  {
    name: 'recon_params', kind: 'table', createdBy: 'recon/match/match-state.ts',
    readBy: ['recon/match/rules.ts', 'recon/live/balances.ts', 'recon/live/order-checks.ts', 'recon/lifecycle/discrepancies.ts'],
    holds: 'one row: the dealer, the day, its bounds in Asia/Shanghai, and the clock time-based rules judge at',
  },
  {
    name: 'recon_order_state', kind: 'table', createdBy: 'recon/match/match-state.ts',
    readBy: ['recon/live/order-checks.ts', 'recon/lifecycle/discrepancies.ts'],
    holds: 'per order of D\'s order file (and, merged, of other days for the orders that need them): its rows aggregated',
  },
  {
    name: 'recon_bill_state', kind: 'table', createdBy: 'recon/match/match-state.ts', readBy: ['recon/live/order-checks.ts'],
    holds: 'per order of D\'s bill file (and merged, of other days): the counted payouts, fees, refs and returns',
  },
  {
    name: 'recon_pruned_days', kind: 'table', createdBy: 'recon/match/match-state.ts', readBy: ['recon/match/ref-state.ts'],
    holds: 'the days whose order file was loaded and whose rows retention has dropped since',
  },
  {
    name: 'recon_frozen_homes', kind: 'table', createdBy: 'recon/match/match-state.ts', readBy: ['recon/match/ref-state.ts'],
    holds: 'per order with open findings kept as they were on a day retention dropped: that day',
  },
  {
    name: 'recon_extra', kind: 'table', createdBy: 'recon/match/match-state.ts', readBy: ['recon/lifecycle/discrepancies.ts'],
    holds: 'orders in scope beyond D\'s files and ledger rows: open findings, and the week\'s unclaimed red packets',
  },
  {
    name: 'recon_ledger', kind: 'table', createdBy: 'recon/match/match-state.ts', readBy: ['recon/match/ref-state.ts'],
    holds: 'the ledger rows the run needs: created on D, and those of the orders in scope looked up by id',
  },
  {
    name: 'recon_live', kind: 'table', createdBy: 'recon/match/match-state.ts',
    readBy: ['recon/match/ref-state.ts', 'recon/match/rules.ts', 'recon/live/order-checks.ts'],
    holds: 'each order\'s newest live answer, and whether it is newer than every order-file row',
  },
  {
    name: 'recon_refs', kind: 'table', createdBy: 'recon/match/ref-state.ts', readBy: ['recon/match/match-state.ts'],
    holds: 'the provider side of the orders judged per 订单流水号 (several rows, other refs on the bills, a newer live answer)',
  },
  {
    name: 'recon_ref_ids', kind: 'table', createdBy: 'recon/match/match-state.ts', readBy: [],
    holds: 'the candidates waiting for their recon_refs row, one pass at a time',
  },
  {
    name: 'recon_match', kind: 'table', createdBy: 'recon/match/match-state.ts', readBy: ['recon/match/rules.ts', 'recon/match/matching.ts'],
    holds: 'the candidates: per order, provider state, bills and ledger row side by side, with the columns the rules read',
  },
  {
    name: 'recon_ledger_ids', kind: 'table', createdBy: 'recon/match/match-state.ts', readBy: [],
    holds: 'the candidates without a ledger row created on D, to be looked up by id',
  },
  {
    name: 'recon_other_ids', kind: 'table', createdBy: 'recon/match/match-state.ts', readBy: [],
    holds: 'the orders that need their other days\' rows',
  },
  {
    name: 'recon_findings', kind: 'table', createdBy: 'recon/match/match-state.ts',
    readBy: ['recon/match/rules.ts', 'recon/match/matching.ts', 'recon/live/balances.ts', 'recon/live/order-checks.ts', 'recon/lifecycle/discrepancies.ts'],
    holds: 'what the rules found this run, before it is written into recon.discrepancies',
  },
  {
    name: 'recon_asked', kind: 'table', createdBy: 'recon/live/order-checks.ts', readBy: ['recon/match/match-state.ts', 'recon/match/matching.ts'],
    holds: 'the orders a live follow-up asked about, whose answers the rules read again',
  },
];
