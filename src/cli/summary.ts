import type { RunResult } from '../recon/runs/run-day.js';

const SEVERITIES = ['critical', 'warning', 'info'] as const;

/** The one-screen summary printed at the end of each run. */
export function formatRunSummary(result: RunResult): string {
  const { lifecycle, times } = result;
  const lines = [
    `${result.mode === 'follow-up' ? 'follow-up ' : ''}run ${result.runId} · dealer ${result.dealerId} · business date ${result.date} · succeeded in ${(times.totalMs / 1000).toFixed(1)} s`,
  ];
  for (const f of result.files) {
    lines.push(`  ${f.kind.padEnd(5)} file  ${String(f.rows).padStart(9)} rows  ${(f.bytes / 1024).toFixed(0).padStart(7)} KiB gz  sha256 ${f.sha256.slice(0, 12)}  ${f.loaded ? 'loaded' : 'unchanged since last ingest'}${f.source === 'archive' ? ' (from the archive)' : ''}`);
  }
  const bySeverity = SEVERITIES.map((s) => `${s} ${lifecycle.findings.filter((f) => f.severity === s).reduce((n, f) => n + f.count, 0)}`);
  lines.push(`  findings   ${bySeverity.join(' · ')}   (new ${lifecycle.opened}, still open ${lifecycle.stillOpen}, resolved ${lifecycle.resolved})`);
  for (const f of lifecycle.findings) lines.push(`    ${f.kind.padEnd(28)} ${f.severity.padEnd(8)} ${String(f.count).padStart(7)}`);
  if (lifecycle.systemic) lines.push('  !! systemic_mismatch: critical findings for more than 20% of the day\'s orders; check the files and the ledger view first');
  const f = result.followUp;
  if (f.candidates > 0 || f.error !== undefined) {
    const said = Object.entries(f.answered).map(([state, n]) => `${state} ${n}`).join(', ');
    lines.push(`  follow-up  asked the provider about ${f.asked} of ${f.candidates} unsettled orders${said === '' ? '' : ` (answers: ${said})`}`
      + `${f.unanswered > 0 ? `; ${f.unanswered} could not be asked, the next run asks again` : ''}`
      + `${f.deferred > 0 ? `; ${f.deferred} left for the next run (YZH_FOLLOWUP_MAX)` : ''}`);
  }
  if (result.balances !== null) {
    const b = result.balances;
    if (!b.asked) lines.push(`  balances   could not be asked (${b.error ?? 'unknown error'}); the next run asks again`);
    for (const c of b.channels.filter((x) => x.open)) {
      lines.push(`  balance    ${c.brokerId} ${c.channel.padEnd(8)} ${c.balance.padStart(14)}  7-day average payout ${(c.averageDailyPayout ?? '-').padStart(14)}${c.low ? '  LOW: top up' : ''}`);
    }
  }
  lines.push(`  audit      ${result.auditHash}`);
  lines.push(`  stages     download ${(times.downloadMs / 1000).toFixed(1)} s · load ${(times.loadMs / 1000).toFixed(1)} s · match ${(times.matchMs / 1000).toFixed(1)} s · follow-up ${(times.followUpMs / 1000).toFixed(1)} s · write ${(times.writeMs / 1000).toFixed(1)} s`);
  return `${lines.join('\n')}\n`;
}
