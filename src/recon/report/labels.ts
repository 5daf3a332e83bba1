/**
 * The finance page's words, in Chinese (the default) and English. Both sets have the same
 * shape (the type enforces it) and every discrepancy kind has a name, a one-line 说明 (what it
 * means) and a 建议处理 (what to do); test/recon/report/report-page.test.ts checks that no label is
 * empty and that every kind the schema allows is described.
 */

export type Lang = 'zh' | 'en';

export const KINDS = [
  'systemic_mismatch', 'missing_in_ledger', 'missing_at_provider', 'amount_mismatch', 'status_mismatch',
  'refund_unrecorded', 'duplicate_provider_order', 'bill_without_order', 'bill_amount_mismatch',
  'fee_mismatch', 'order_without_bill', 'stale_pending_claim', 'unresolved_provider_status', 'balance_low',
] as const;

export type Kind = (typeof KINDS)[number];

export const SEVERITIES = ['critical', 'warning', 'info'] as const;
export type SeverityName = (typeof SEVERITIES)[number];

export interface KindText {
  name: string;
  meaning: string;
  action: string;
}

export interface Labels {
  htmlLang: string;
  title: string;
  dealer: string;
  businessDate: string;
  period: string;
  generatedAt: string;
  beijingTime: string;
  verdictCritical: (n: string, amount: string) => string;
  verdictWarning: (n: string) => string;
  verdictClean: string;
  verdictNoRun: string;
  kpiCriticalOpen: string;
  kpiAtRisk: string;
  kpiNew: string;
  kpiResolved: string;
  kpiUnacked: string;
  kpiBacklog: string;
  glance: string;
  glanceNote: string;
  /** The period has days whose provider rows retention dropped (their dates, comma-separated). */
  prunedNote: (days: string) => string;
  /** Of those, days whose files' amounts were never recorded. */
  prunedUnrecorded: (days: string) => string;
  side: string;
  orderFile: string;
  billFile: string;
  ledger: string;
  count: string;
  amount: string;
  paid: string;
  returned: string;
  failed: string;
  fees: string;
  payouts: string;
  rows: string;
  findingsBySeverity: string;
  findingsNote: string;
  severity: string;
  severities: Record<SeverityName, string>;
  open: string;
  resolved: string;
  newFindings: string;
  resolvedByRuns: string;
  acked: string;
  history: string;
  historyNote: string;
  chartByKind: string;
  chartAtRisk: string;
  noSuccessfulRun: string;
  chartTable: string;
  day: string;
  total: string;
  openFindings: string;
  openFindingsNote: (shown: string, total: string) => string;
  age: string;
  ageDays: (n: number) => string;
  kind: string;
  orderId: string;
  providerRef: string;
  ledgerAmount: string;
  providerAmount: string;
  difference: string;
  overpaid: string;
  underpaid: string;
  situation: string;
  liveStatus: string;
  liveNotAsked: string;
  liveUnavailable: string;
  ack: string;
  notAcked: string;
  /** Over the earlier row's acknowledgement, on a finding that came back (its details' previous). */
  previousAck: (id: string) => string;
  noOpenFindings: string;
  runHealth: string;
  lastSuccess: string;
  never: string;
  runOf: (id: number, date: string) => string;
  duration: string;
  seconds: (s: string) => string;
  runsInPeriod: string;
  runStatus: string;
  started: string;
  provider: string;
  failedRuns: string;
  file: string;
  generated: string;
  sha256: string;
  ingested: string;
  noFiles: string;
  glossary: string;
  meaning: string;
  action: string;
  howToAck: string;
  howToAckText: string;
  statuses: Record<string, string>;
  runStatuses: Record<'succeeded' | 'failed' | 'running', string>;
  kinds: Record<Kind, KindText>;
}

const zh: Labels = {
  htmlLang: 'zh-CN',
  title: '云账户对账日报',
  dealer: '商户',
  businessDate: '对账日',
  period: '对账期间',
  generatedAt: '生成时间',
  beijingTime: '北京时间',
  verdictCritical: (n, amount) => `共 ${n} 项严重差异待处理（各对账日），涉及金额 ¥${amount}`,
  verdictWarning: (n) => `无严重差异待处理；${n} 项警告待处理`,
  verdictClean: '全部核对一致，无待处理差异',
  verdictNoRun: '对账日没有成功的运行：以下数字可能不完整',
  kpiCriticalOpen: '本期严重 · 待处理',
  kpiAtRisk: '本期风险金额（严重）',
  kpiNew: '本期新增',
  kpiResolved: '本期已解决',
  kpiUnacked: '待处理且未确认',
  kpiBacklog: '全部待处理（各日）',
  glance: '当日概览',
  glanceNote: '三方数据：云账户订单文件、流水文件与商户账本（按创建日）。',
  prunedNote: (days) => `${days} 的云账户明细行已按保留期（YZH_RETAIN_DAYS）清理；上表中这些日期的文件合计为文件载入时记录的数值。`,
  prunedUnrecorded: (days) => `${days} 的文件载入时未记录金额，只有行数：金额与笔数栏不可得（—）。`,
  side: '来源',
  orderFile: '云账户订单文件',
  billFile: '云账户流水文件',
  ledger: '商户账本',
  count: '笔数',
  amount: '金额（元）',
  paid: '已付款',
  returned: '退汇',
  failed: '失败',
  fees: '服务费',
  payouts: '打款',
  rows: '行数',
  findingsBySeverity: '差异（按严重程度）',
  findingsNote: '待处理、已解决：对账期间各日的差异；本期新增、本期已解决：期间内运行所开、所关的差异（含更早日期）。',
  severity: '严重程度',
  severities: { critical: '严重', warning: '警告', info: '提示' },
  open: '待处理',
  resolved: '已解决',
  newFindings: '本期新增',
  resolvedByRuns: '本期已解决',
  acked: '已确认',
  history: '近 30 天',
  historyNote: '按对账日：该日仍待处理的差异（按类型堆叠）与风险金额（严重差异的金额）。',
  chartByKind: '待处理差异（按类型）',
  chartAtRisk: '风险金额（元）',
  noSuccessfulRun: '无成功运行',
  chartTable: '数据表',
  day: '日期',
  total: '合计',
  openFindings: '待处理差异（按账龄）',
  openFindingsNote: (shown, total) => `严重程度从高到低，同级按账龄从长到短。共 ${total} 项，显示 ${shown} 项；完整清单见 CSV 导出。`,
  age: '账龄',
  ageDays: (n) => `${n} 天`,
  kind: '类型',
  orderId: '商户订单号',
  providerRef: '订单流水号',
  ledgerAmount: '账本金额',
  providerAmount: '云账户金额',
  difference: '差额',
  overpaid: '多付',
  underpaid: '少付',
  situation: '情况',
  liveStatus: '实时状态',
  liveNotAsked: '未查询',
  liveUnavailable: '实时状态：实时查询尚未启用，暂不显示。',
  ack: '确认',
  notAcked: '未确认',
  previousAck: (id) => `此前已确认（#${id}，已解决后再次出现）`,
  noOpenFindings: '没有待处理的差异。',
  runHealth: '运行状况',
  lastSuccess: '最近一次成功运行',
  never: '从未',
  runOf: (id, date) => `运行 #${id}（对账日 ${date}）`,
  duration: '耗时',
  seconds: (s) => `${s} 秒`,
  runsInPeriod: '期间运行',
  runStatus: '状态',
  started: '开始时间',
  provider: '云账户',
  failedRuns: '失败',
  file: '文件',
  generated: '云账户生成时间',
  sha256: 'SHA-256（前 12 位）',
  ingested: '载入时间',
  noFiles: '本期间没有载入的文件。',
  glossary: '差异类型说明',
  meaning: '说明',
  action: '建议处理',
  howToAck: '如何确认差异',
  howToAckText: '导出 CSV（yzh-recon report --open --format csv），在 Excel 中填写 ack_by（确认人）和 ack_note（备注），保存后执行 yzh-recon ack --file 文件名。',
  statuses: {
    paid: '已付款', paid_pending_claim: '已付款（待领取）', failed: '失败', returned: '退汇', deleted: '已删除',
    unresolved: '未决', submitted: '已提交', refunded: '已退款', cancelled: '已取消', cutoff: '跨日截点',
  },
  runStatuses: { succeeded: '成功', failed: '失败', running: '运行中' },
  kinds: {
    systemic_mismatch: { name: '系统性差异', meaning: '当日超过 20% 的订单出现严重差异：多半是文件、解析或账本视图的问题，而非逐笔问题。', action: '先核对文件是否正确、账本视图是否正常，再处理单笔差异。' },
    missing_in_ledger: { name: '账本少记', meaning: '云账户订单文件有此订单，商户账本没有。', action: '已付款则属资金流出无记录：立即核查是谁发起的付款，补记账本。' },
    missing_at_provider: { name: '云账户无此单', meaning: '商户账本当日有此订单，云账户的订单文件都没有。', action: '确认请求是否送达云账户；账本记为已付款的须优先核查。跨日截点的可等次日文件。' },
    amount_mismatch: { name: '金额不符', meaning: '账本金额与云账户订单金额不一致（多付或少付）。', action: '核对付款指令与回单，按实际金额更正账本或向云账户追回差额。' },
    status_mismatch: { name: '状态不符', meaning: '云账户与账本的订单状态不一致，如云账户已付款而账本记为失败。', action: '以云账户状态为准更新账本；若云账户有误，提供流水号联系云账户。' },
    refund_unrecorded: { name: '退汇未入账', meaning: '云账户已退汇（资金退回），账本未记为退款。', action: '在账本记为退款，并确认收款人是否需要重新付款。' },
    duplicate_provider_order: { name: '重复付款', meaning: '同一商户订单号在云账户有两笔不同的订单流水号。', action: '核实是否重复付款；多付的款项向收款人或云账户追回。' },
    bill_without_order: { name: '有流水无订单', meaning: '流水文件有打款记录，订单文件中没有对应订单。', action: '联系云账户核实该流水所属订单。' },
    bill_amount_mismatch: { name: '流水金额不符', meaning: '订单的打款流水或服务费流水合计与订单金额不一致。', action: '核对流水明细，联系云账户更正。' },
    fee_mismatch: { name: '服务费不符', meaning: '服务费与合同费率计算结果（四舍五入到分）不一致。', action: '核对经纪公司的费率配置，与云账户对账。' },
    order_without_bill: { name: '有订单无流水', meaning: '已付款订单在流水文件中没有打款记录。', action: '通常次日流水补齐；持续存在请联系云账户。' },
    stale_pending_claim: { name: '待领取超时', meaning: '订单“成功(待领取)”超过 48 小时，收款人仍未领取。', action: '提醒收款人领取，或按约定撤回。' },
    unresolved_provider_status: { name: '状态未决', meaning: '云账户最新状态仍未决（挂单、打款中、未知）。', action: '等待下次文件或实时查询；挂单多为余额不足，请检查余额。' },
    balance_low: { name: '余额不足', meaning: '经纪公司通道余额低于近 7 日日均打款额，次日订单可能挂单。', action: '尽快充值。' },
  },
};

const en: Labels = {
  htmlLang: 'en',
  title: 'Yunzhanghu reconciliation report',
  dealer: 'Dealer',
  businessDate: 'Business day',
  period: 'Period',
  generatedAt: 'Generated',
  beijingTime: 'Beijing time',
  verdictCritical: (n, amount) => `${n} critical findings open (all business days), ¥${amount} at risk`,
  verdictWarning: (n) => `No critical findings open; ${n} warnings to act on`,
  verdictClean: 'Everything matches: nothing to act on',
  verdictNoRun: 'No successful run for this day: the figures below may be incomplete',
  kpiCriticalOpen: 'Critical open (period)',
  kpiAtRisk: 'At risk (period, critical)',
  kpiNew: 'New in period',
  kpiResolved: 'Resolved in period',
  kpiUnacked: 'Open, not acknowledged',
  kpiBacklog: 'All open (every day)',
  glance: 'The day at a glance',
  glanceNote: 'Three sides: the provider\'s order file, its bill file and the merchant ledger (by creation day).',
  prunedNote: (days) => `The provider rows of ${days} were pruned (YZH_RETAIN_DAYS); the files' totals above for those days are those recorded when the files were loaded.`,
  prunedUnrecorded: (days) => `For ${days} only the files' row counts were recorded when they were loaded: the amounts and the other counts are not known (—).`,
  side: 'Source',
  orderFile: 'Provider order file',
  billFile: 'Provider bill file',
  ledger: 'Merchant ledger',
  count: 'Count',
  amount: 'Amount (CNY)',
  paid: 'Paid',
  returned: 'Returned',
  failed: 'Failed',
  fees: 'Fees',
  payouts: 'Payouts',
  rows: 'Rows',
  findingsBySeverity: 'Findings by severity',
  findingsNote: 'Open and resolved: findings of the period\'s days. New and resolved in period: opened and closed by the period\'s runs (earlier days included).',
  severity: 'Severity',
  severities: { critical: 'Critical', warning: 'Warning', info: 'Info' },
  open: 'Open',
  resolved: 'Resolved',
  newFindings: 'New in period',
  resolvedByRuns: 'Resolved in period',
  acked: 'Acknowledged',
  history: 'Last 30 days',
  historyNote: 'By business day: that day\'s findings still open (stacked by kind) and money at risk (amounts of critical findings).',
  chartByKind: 'Open findings by kind',
  chartAtRisk: 'Money at risk (CNY)',
  noSuccessfulRun: 'no successful run',
  chartTable: 'Data table',
  day: 'Day',
  total: 'Total',
  openFindings: 'Open findings by age',
  openFindingsNote: (shown, total) => `Most severe first, then oldest first. ${total} open, ${shown} shown; the CSV export has them all.`,
  age: 'Age',
  ageDays: (n) => `${n} d`,
  kind: 'Kind',
  orderId: 'Merchant order id',
  providerRef: 'Provider ref',
  ledgerAmount: 'Ledger amount',
  providerAmount: 'Provider amount',
  difference: 'Difference',
  overpaid: 'overpaid',
  underpaid: 'underpaid',
  situation: 'Situation',
  liveStatus: 'Live status',
  liveNotAsked: 'not asked',
  liveUnavailable: 'Live status: the live follow-up is not set up yet, so none is shown.',
  ack: 'Acknowledgement',
  notAcked: 'not acknowledged',
  previousAck: (id) => `Acknowledged before (#${id}, resolved, then found again)`,
  noOpenFindings: 'No open findings.',
  runHealth: 'Run health',
  lastSuccess: 'Last successful run',
  never: 'never',
  runOf: (id, date) => `run #${id} (business day ${date})`,
  duration: 'Duration',
  seconds: (s) => `${s} s`,
  runsInPeriod: 'Runs in period',
  runStatus: 'Status',
  started: 'Started',
  provider: 'Provider',
  failedRuns: 'failed',
  file: 'File',
  generated: 'Generated by the provider',
  sha256: 'SHA-256 (first 12)',
  ingested: 'Ingested',
  noFiles: 'No files ingested in this period.',
  glossary: 'What each kind means',
  meaning: 'Meaning',
  action: 'What to do',
  howToAck: 'How to acknowledge findings',
  howToAckText: 'Export the CSV (yzh-recon report --open --format csv), fill in ack_by and ack_note in Excel, save, then run yzh-recon ack --file FILE.',
  statuses: {
    paid: 'paid', paid_pending_claim: 'paid (pending claim)', failed: 'failed', returned: 'returned', deleted: 'deleted',
    unresolved: 'unresolved', submitted: 'submitted', refunded: 'refunded', cancelled: 'cancelled', cutoff: 'day cut-off',
  },
  runStatuses: { succeeded: 'succeeded', failed: 'failed', running: 'running' },
  kinds: {
    systemic_mismatch: { name: 'Systemic mismatch', meaning: 'More than 20% of the day\'s orders have critical findings: most likely the file, the parser or the ledger view, not single orders.', action: 'Check the files and the ledger view first, then the single findings.' },
    missing_in_ledger: { name: 'Missing in ledger', meaning: 'The provider\'s order file has the order; the merchant ledger does not.', action: 'If paid, money left without a record: find who initiated it and record it.' },
    missing_at_provider: { name: 'Missing at provider', meaning: 'The ledger has the order on this day; no provider order file has it.', action: 'Check the request reached the provider; ledger-paid ones first. Cut-off ones can wait for the next day\'s file.' },
    amount_mismatch: { name: 'Amount mismatch', meaning: 'The ledger amount differs from the provider\'s (overpaid or underpaid).', action: 'Check the instruction and the receipt; correct the ledger or recover the difference.' },
    status_mismatch: { name: 'Status mismatch', meaning: 'The provider and the ledger disagree on the status, e.g. provider paid, ledger failed.', action: 'Update the ledger to the provider\'s status; if the provider is wrong, quote the provider ref to them.' },
    refund_unrecorded: { name: 'Return not recorded', meaning: 'The provider returned the payout; the ledger does not say refunded.', action: 'Record the refund and check whether the payee must be paid again.' },
    duplicate_provider_order: { name: 'Duplicate payout', meaning: 'One merchant order id has two different provider refs.', action: 'Confirm the double payment and recover the extra amount.' },
    bill_without_order: { name: 'Bill without order', meaning: 'A payout bill row has no order in any order file.', action: 'Ask the provider which order the bill row belongs to.' },
    bill_amount_mismatch: { name: 'Bill amount mismatch', meaning: 'The order\'s payout or fee bill rows do not add up to the order.', action: 'Check the bill rows and ask the provider to correct them.' },
    fee_mismatch: { name: 'Fee mismatch', meaning: 'The service fee differs from the contract rate (rounded half up to the fen).', action: 'Check the broker\'s rate and settle it with the provider.' },
    order_without_bill: { name: 'Order without bill', meaning: 'A paid order has no payout row in any bill file.', action: 'Usually filled by the next day\'s bill file; ask the provider if it stays.' },
    stale_pending_claim: { name: 'Unclaimed over 48 h', meaning: 'The order has been "paid (pending claim)" for more than 48 hours.', action: 'Remind the payee to claim, or withdraw it as agreed.' },
    unresolved_provider_status: { name: 'Unresolved status', meaning: 'The provider\'s latest status is still unresolved (on hold, paying, unknown).', action: 'Wait for the next file or live answer; on hold usually means low balance.' },
    balance_low: { name: 'Balance low', meaning: 'A broker channel\'s balance is below its average daily payout of the last 7 days.', action: 'Top up before the next day\'s payouts.' },
  },
};

export const LABELS: Record<Lang, Labels> = { zh, en };

export function kindText(labels: Labels, kind: string): KindText {
  return (labels.kinds as Record<string, KindText>)[kind] ?? { name: kind, meaning: '', action: '' };
}
