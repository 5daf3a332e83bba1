import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { buildRunMetrics } from '../../src/recon/runs/metrics.js';
import type { RunResult } from '../../src/recon/runs/run-day.js';

/**
 * The Grafana dashboard and the alert rules name only metrics that a run pushes: the names
 * come from the registry the run builds (src/recon/runs/metrics.ts), for a run with every
 * part (files, findings, follow-up, balances) and for a failed one.
 */

const MONITORING = join(import.meta.dirname, '..', '..', 'k8s', 'monitoring');
const dashboard = JSON.parse(readFileSync(join(MONITORING, 'yzh-recon-dashboard.json'), 'utf8')) as {
  uid: string;
  templating: { list: { name: string; type: string; query: unknown; datasource?: unknown }[] };
  panels: { id: number; title: string; type: string; datasource: { uid: string }; gridPos: { x: number; y: number; w: number; h: number }; targets: { expr: string; refId: string }[] }[];
};
const PROMTOOL = (process.env.PATH ?? '').split(delimiter).some((dir) => dir !== '' && existsSync(join(dir, 'promtool')));

async function pushedNames(): Promise<Set<string>> {
  const result = {
    runId: 1, dealerId: 'd', date: '2017-11-20', mode: 'run', auditHash: 'x',
    files: [{ kind: 'order', rows: 1 }, { kind: 'bill', rows: 1 }],
    lifecycle: { openedBySeverity: { critical: 1 } },
    times: { downloadMs: 1, loadMs: 1, matchMs: 1, followUpMs: 1, writeMs: 1, totalMs: 5 },
    followUp: { asked: 1, unanswered: 0, deferred: 0 },
    balances: { asked: true, channels: [{ brokerId: 'b', channel: 'bankcard', balance: '1.00' }] },
  } as unknown as RunResult;
  const names = new Set<string>();
  for (const outcome of ['succeeded', 'failed'] as const) {
    const registry = buildRunMetrics({
      dealerId: 'd', date: '2017-11-20', outcome, durationSeconds: 1, result: outcome === 'succeeded' ? result : undefined,
      open: [{ kind: 'amount_mismatch', severity: 'critical', count: 1, amount: '1.00' }],
      days: { lastSuccess: '2017-11-20', lastFinal: '2017-11-20' },
    });
    for (const m of await registry.getMetricsAsJSON()) names.add(m.name);
  }
  return names;
}

const metricNames = (expr: string) => [...expr.matchAll(/\b(yzh_recon_[a-z0-9_]+)\b/g)].map((m) => m[1]!);

describe('the Grafana dashboard', () => {
  it('names only metrics the job pushes, in its panels, its variables and the alert rules', async () => {
    const pushed = await pushedNames();
    const exprs = dashboard.panels.flatMap((p) => p.targets.map((t) => ({ where: `panel "${p.title}"`, expr: t.expr })));
    for (const v of dashboard.templating.list) if (v.type === 'query') exprs.push({ where: `variable ${v.name}`, expr: JSON.stringify(v.query) });
    const rules = parse(readFileSync(join(MONITORING, 'yzh-recon-rules.yaml'), 'utf8')) as { groups: { rules: { alert: string; expr: string }[] }[] };
    for (const r of rules.groups.flatMap((g) => g.rules)) exprs.push({ where: `alert ${r.alert}`, expr: r.expr });
    const named = exprs.flatMap(({ where, expr }) => metricNames(expr).map((name) => ({ where, name })));
    expect(named.length).toBeGreaterThan(15);
    expect(named.filter(({ name }) => !pushed.has(name))).toEqual([]);
  });

  it('has a panel for each thing operators watch, each on the templated Prometheus, laid out without overlap', () => {
    const titles = dashboard.panels.map((p) => p.title);
    for (const wanted of [/Last successful run/, /Runs by outcome/, /Stage durations/, /Rows loaded/, /open by severity/, /open by kind/, /Money at risk/, /Balances by broker and channel/]) {
      expect(titles.some((t) => wanted.test(t)), String(wanted)).toBe(true);
    }
    expect(new Set(dashboard.panels.map((p) => p.id)).size).toBe(dashboard.panels.length);
    for (const p of dashboard.panels) {
      expect(p.datasource.uid, p.title).toBe('${datasource}');
      expect(p.targets.length, p.title).toBeGreaterThan(0);
      for (const t of p.targets) expect(t.expr, p.title).toContain('dealer_id=~"$dealer"');
      expect(p.gridPos.x + p.gridPos.w, p.title).toBeLessThanOrEqual(24);
    }
    const cells = new Set<string>();
    for (const p of dashboard.panels) {
      for (let x = p.gridPos.x; x < p.gridPos.x + p.gridPos.w; x++) {
        for (let y = p.gridPos.y; y < p.gridPos.y + p.gridPos.h; y++) {
          expect(cells.has(`${x},${y}`), `${p.title} overlaps at ${x},${y}`).toBe(false);
          cells.add(`${x},${y}`);
        }
      }
    }
  });

  it('ships in a ConfigMap for the Grafana sidecar (label grafana_dashboard: "1") holding the same JSON', () => {
    const docs = parseAllDocuments(readFileSync(join(MONITORING, 'grafana-dashboard.yaml'), 'utf8')).map((d) => d.toJS() as {
      kind: string; metadata: { labels: Record<string, string> }; data: Record<string, string>;
    });
    expect(docs).toHaveLength(1);
    const [cm] = docs;
    expect(cm!.kind).toBe('ConfigMap');
    expect(cm!.metadata.labels.grafana_dashboard).toBe('1');
    expect(cm!.data['yzh-recon.json']).toBe(readFileSync(join(MONITORING, 'yzh-recon-dashboard.json'), 'utf8'));
  });

  it.skipIf(!PROMTOOL)('every panel query is valid PromQL (promtool checks it as a recording rule)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'yzh-dash-'));
    try {
      const rules = dashboard.panels.flatMap((p) => p.targets.map((t, i) => ({
        record: `dashboard:panel_${p.id}_${i}`,
        expr: t.expr.replaceAll('$dealer', '.*'),
      })));
      const file = join(dir, 'panels.json');
      writeFileSync(file, JSON.stringify({ groups: [{ name: 'dashboard', rules }] }));
      const { stdout } = await promisify(execFile)('promtool', ['check', 'rules', file]);
      expect(stdout).toContain(`SUCCESS: ${rules.length} rules found`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
