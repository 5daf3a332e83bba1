import { createHmac, timingSafeEqual } from 'node:crypto';
import { rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { CommandContext } from '../../src/cli/context.js';
import { notifyCommand } from '../../src/cli/notify.js';
import { runCommand } from '../../src/cli/run.js';
import { loadConfig } from '../../src/config.js';
import { openDatabase } from '../../src/db/connection.js';
import { coerceError } from '../../src/errors.js';
import type { Sandbox } from '../../src/provider/sandbox-server.js';
import { code, visible } from '../../src/recon/notify/message.js';
import { notifyAfterRun } from '../../src/recon/notify/after-run.js';
import { parseTarget } from '../../src/recon/notify/targets.js';
import type { CliResult } from '../helpers/cli.js';
import { childDatabase, providerEnv, type ChildDatabase } from '../helpers/cli-env.js';
import { ENGINES } from '../helpers/db.js';
import { FIXTURE_DATE, startSandbox } from '../helpers/provider.js';

/**
 * The chat messages after a run, through the run command, to local receivers that stand in
 * for 企业微信, 钉钉 and 飞书 and check each request as the service does (its body's shape, its
 * signature and timestamp), answering as the service answers; and receivers that hang or fail.
 */

vi.setConfig({ testTimeout: 300_000 });

const WECOM_KEY = 'wk-0b7f-secret-key';
const DING_TOKEN = 'dt-91ac-access-token';
const DING_SECRET = 'SECd1n9-secret-xyz';
const FEISHU_HOOK = 'fh-77e2-hook-id';
const FEISHU_SECRET = 'fs-5ecret-abc';
const JSON_SECRET = 'js-secret-123';

interface Received {
  path: string;
  query: URLSearchParams;
  headers: IncomingMessage['headers'];
  body: Record<string, unknown>;
  raw: string;
  verdict: string;
}

const b64hmac = (key: string, data: string) => createHmac('sha256', key).update(data).digest('base64');
const same = (a: string, b: string) => a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));

/** What each service checks and answers, as its documentation describes. */
function judge(kind: string, url: URL, body: Record<string, unknown>, raw: string, headers: IncomingMessage['headers']): { status: number; answer: unknown; verdict: string } {
  const now = Date.now();
  switch (kind) {
    case 'wecom': {
      const md = body.markdown as { content?: unknown } | undefined;
      if (url.searchParams.get('key') !== WECOM_KEY) return { status: 200, answer: { errcode: 93000, errmsg: 'invalid webhook url' }, verdict: 'bad key' };
      if (body.msgtype !== 'markdown' || typeof md?.content !== 'string' || Buffer.byteLength(md.content) > 4096) return { status: 200, answer: { errcode: 40008, errmsg: 'invalid message type' }, verdict: 'bad body' };
      return { status: 200, answer: { errcode: 0, errmsg: 'ok' }, verdict: 'ok' };
    }
    case 'dingtalk': {
      const ts = url.searchParams.get('timestamp') ?? '';
      const sign = url.searchParams.get('sign') ?? '';
      const md = body.markdown as { title?: unknown; text?: unknown } | undefined;
      if (url.searchParams.get('access_token') !== DING_TOKEN) return { status: 200, answer: { errcode: 300001, errmsg: 'token is not exist' }, verdict: 'bad token' };
      if (!/^\d{13}$/.test(ts) || Math.abs(now - Number(ts)) > 3600_000) return { status: 200, answer: { errcode: 310000, errmsg: 'invalid timestamp' }, verdict: 'bad timestamp' };
      if (!same(sign, b64hmac(DING_SECRET, `${ts}\n${DING_SECRET}`))) return { status: 200, answer: { errcode: 310000, errmsg: 'sign not match' }, verdict: 'bad sign' };
      if (body.msgtype !== 'markdown' || typeof md?.title !== 'string' || typeof md.text !== 'string') return { status: 200, answer: { errcode: 40035, errmsg: 'bad body' }, verdict: 'bad body' };
      return { status: 200, answer: { errcode: 0, errmsg: 'ok' }, verdict: 'ok' };
    }
    case 'feishu': {
      const ts = typeof body.timestamp === 'string' ? body.timestamp : '';
      if (!url.pathname.endsWith(`/hook/${FEISHU_HOOK}`)) return { status: 200, answer: { code: 19001, msg: 'param invalid: incoming webhook access token invalid' }, verdict: 'bad hook' };
      if (!/^\d{10}$/.test(ts) || Math.abs(now / 1000 - Number(ts)) > 3600) return { status: 200, answer: { code: 19021, msg: 'sign match fail or timestamp is not within one hour from current time' }, verdict: 'bad timestamp' };
      if (!same(typeof body.sign === 'string' ? body.sign : '', b64hmac(`${ts}\n${FEISHU_SECRET}`, ''))) return { status: 200, answer: { code: 19021, msg: 'sign match fail or timestamp is not within one hour from current time' }, verdict: 'bad sign' };
      const card = body.card as { header?: { title?: { content?: unknown } }; elements?: { tag?: unknown; content?: unknown }[] } | undefined;
      if (body.msg_type !== 'interactive' || typeof card?.header?.title?.content !== 'string' || card.elements?.[0]?.tag !== 'markdown') return { status: 200, answer: { code: 9499, msg: 'Bad Request' }, verdict: 'bad body' };
      return { status: 200, answer: { code: 0, msg: 'success', data: {} }, verdict: 'ok' };
    }
    default: {
      const ts = String(headers['x-yzh-timestamp'] ?? '');
      const expected = `sha256=${createHmac('sha256', JSON_SECRET).update(`${ts}\n${raw}`).digest('hex')}`;
      if (!same(String(headers['x-yzh-signature'] ?? ''), expected)) return { status: 401, answer: {}, verdict: 'bad signature' };
      return { status: 204, answer: null, verdict: 'ok' };
    }
  }
}

class Receiver {
  readonly got: Record<string, Received[]> = { wecom: [], dingtalk: [], feishu: [], json: [], hang: [], fail: [] };
  private server: Server;
  private hanging: ServerResponse[] = [];
  port = 0;
  constructor() {
    this.server = createServer((req, res) => {
      let raw = '';
      req.on('data', (d: Buffer) => { raw += d.toString('utf8'); });
      req.on('end', () => {
        const url = new URL(req.url!, 'http://127.0.0.1');
        const kind = url.pathname.split('/')[1]!;
        let body: Record<string, unknown> = {};
        try {
          body = JSON.parse(raw) as Record<string, unknown>;
        } catch { /* judged below */ }
        if (kind === 'hang') {
          this.got.hang!.push({ path: url.pathname, query: url.searchParams, headers: req.headers, body, raw, verdict: 'hung' });
          this.hanging.push(res);
          return;
        }
        if (kind === 'fail') {
          this.got.fail!.push({ path: url.pathname, query: url.searchParams, headers: req.headers, body, raw, verdict: '500' });
          res.writeHead(500).end('oops');
          return;
        }
        const j = judge(kind, url, body, raw, req.headers);
        this.got[kind]!.push({ path: url.pathname, query: url.searchParams, headers: req.headers, body, raw, verdict: j.verdict });
        res.writeHead(j.status, { 'content-type': 'application/json' }).end(j.answer === null ? '' : JSON.stringify(j.answer));
      });
    });
  }
  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }
  clear(): void {
    for (const k of Object.keys(this.got)) this.got[k] = [];
  }
  async stop(): Promise<void> {
    for (const r of this.hanging) r.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
  urls(): { urls: string; secrets: string } {
    const base = `http://127.0.0.1:${this.port}`;
    return {
      urls: [
        `wecom+${base}/wecom/cgi-bin/webhook/send?key=${WECOM_KEY}`,
        `dingtalk+${base}/dingtalk/robot/send?access_token=${DING_TOKEN}`,
        `feishu+${base}/feishu/open-apis/bot/v2/hook/${FEISHU_HOOK}`,
        `${base}/json/yzh`,
      ].join(','),
      secrets: ['', DING_SECRET, FEISHU_SECRET, JSON_SECRET].join(','),
    };
  }
}

const COMMANDS = { run: runCommand, notify: notifyCommand };

/** A command in this process, with its log lines kept (to check that no key is in them). */
async function command(args: string[], env: Record<string, string>): Promise<CliResult & { log: string }> {
  let stdout = '';
  let log = '';
  const ctx: CommandContext = {
    env,
    signal: new AbortController().signal,
    stdout: new Writable({ write(chunk, _enc, done) { stdout += String(chunk); done(); } }),
    config: (options) => loadConfig(env, options),
    log: pino({ level: 'info' }, new Writable({ write(chunk, _enc, done) { log += String(chunk); done(); } })),
  };
  const [name, ...rest] = args;
  try {
    const code = await COMMANDS[name as keyof typeof COMMANDS](ctx, rest);
    return { code, signal: null, stdout, stderr: '', log };
  } catch (thrown) {
    const err = coerceError(thrown);
    return { code: err.code === 'USAGE' ? 2 : 1, signal: null, stdout, stderr: `yzh-recon: ${err.message}\n`, log };
  }
}

const SECRETS = [WECOM_KEY, DING_TOKEN, DING_SECRET, FEISHU_HOOK, FEISHU_SECRET, JSON_SECRET];

describe('webhook targets and outside text', () => {
  it('recognises the services by host, or by an explicit prefix; names them without their key', () => {
    const t = (u: string) => parseTarget(u, '', 1);
    expect(t('https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=abc')).toMatchObject({ kind: 'wecom', label: 'webhook 1 (企业微信, qyapi.weixin.qq.com)' });
    expect(t('https://oapi.dingtalk.com/robot/send?access_token=abc')).toMatchObject({ kind: 'dingtalk' });
    expect(t('https://open.feishu.cn/open-apis/bot/v2/hook/abc')).toMatchObject({ kind: 'feishu' });
    expect(t('https://open.larksuite.com/open-apis/bot/v2/hook/abc')).toMatchObject({ kind: 'feishu' });
    expect(t('https://hooks.example.com/x?token=abc')).toMatchObject({ kind: 'json', label: 'webhook 1 (JSON, hooks.example.com)' });
    expect(t('feishu+http://127.0.0.1:9/h/abc')).toMatchObject({ kind: 'feishu', url: 'http://127.0.0.1:9/h/abc' });
    expect(t('ftp://x/y?key=abc')).toBe('YZH_NOTIFY_URLS entry 1 must be an http(s) URL');
    expect(() => loadConfig({ YZH_NOTIFY_URLS: 'https://qyapi.weixin.qq.com/x?key=SEEKRIT,nonsense', YZH_NOTIFY_ON: 'sometimes' }))
      .toThrow('configuration: YZH_NOTIFY_URLS entry 2 is not a URL; YZH_NOTIFY_ON must be always, findings or critical, got "sometimes"');
    try {
      loadConfig({ YZH_NOTIFY_URLS: 'https://qyapi.weixin.qq.com/x?key=SEEKRIT,nonsense' });
    } catch (err) {
      expect((err as Error).message).not.toContain('SEEKRIT');
    }
  });

  it('shows bidi and zero-width controls as visible code points, and keeps outside text out of markdown', () => {
    expect(visible('ab\u202Ecd\u200Be\u2066f\uFEFF')).toBe('ab⟨U+202E⟩cd⟨U+200B⟩e⟨U+2066⟩f⟨U+FEFF⟩');
    expect(code('[点我](http://evil.example)`x`\nline')).toBe('`[点我](http://evil.example)ˋxˋ line`');
  });
});

describe.each(ENGINES)('chat messages after a run (%s)', (engine) => {
  let child: ChildDatabase;
  let sandbox: Sandbox;
  let receiver: Receiver;
  let env: Record<string, string>;

  beforeAll(async () => {
    sandbox = await startSandbox();
    receiver = new Receiver();
    await receiver.start();
    child = await childDatabase(engine, { fixtureDay: true });
    const { urls, secrets } = receiver.urls();
    env = {
      ...child.env, ...providerEnv(sandbox), LOG_LEVEL: 'info',
      YZH_NOTIFY_URLS: urls, YZH_NOTIFY_SECRETS: secrets, YZH_REPORT_URL: 'https://finance.example.com/recon/{date}.html',
    };
  });
  afterAll(async () => {
    await sandbox?.stop();
    await receiver?.stop();
    await child?.drop();
    if (child?.env.PGLITE_DIR) rmSync(dirname(child.env.PGLITE_DIR), { recursive: true, force: true });
  });

  it('after a run, each service gets one well-formed, correctly signed message with the day, the outcome, critical findings, money at risk, the largest findings and the link', async () => {
    receiver.clear();
    const r = await command(['run', '--date', FIXTURE_DATE], env);
    expect(r.code, r.stderr).toBe(0);
    for (const kind of ['wecom', 'dingtalk', 'feishu', 'json']) {
      expect(receiver.got[kind]!.map((g) => g.verdict), kind).toEqual(['ok']);
    }
    const wecom = (receiver.got.wecom![0]!.body.markdown as { content: string }).content;
    expect(wecom).toContain(`### 云账户对账 ${FIXTURE_DATE} 对账完成`);
    expect(wecom).toMatch(/\*\*运行结果\*\*：成功（运行 \d+，用时 [\d.]+ 秒）/);
    expect(wecom).toMatch(/\*\*待处理严重差异\*\*：\d+\u3000\*\*风险金额\*\*：¥[\d,]+\.\d\d/);
    expect(wecom).toMatch(/\*\*本次新增差异\*\*：\d+（其中严重 \d+）/);
    expect(wecom).toContain('**金额最大的待处理差异**：');
    expect(wecom.match(/^\d\. /gm)).toHaveLength(5);
    expect(wecom).toContain(`[打开对账日报](https://finance.example.com/recon/${FIXTURE_DATE}.html)`);
    const ding = receiver.got.dingtalk![0]!.body.markdown as { title: string; text: string };
    expect(ding.text).toBe(wecom);
    expect(ding.title).toBe(`云账户对账 ${FIXTURE_DATE} 对账完成`);
    const card = receiver.got.feishu![0]!.body.card as { elements: { content: string }[] };
    expect(card.elements[0]!.content).toBe(wecom.split('\n').slice(1).join('\n'));
    const json = receiver.got.json![0]!.body;
    expect(json).toMatchObject({ event: 'yzh-recon.run', business_date: FIXTURE_DATE, outcome: 'succeeded', error: null });
    expect((json.largest_open as unknown[]).length).toBe(5);
    expect(json.at_risk).toMatch(/^\d+(\.\d+)?$/);
    expect(r.log).toContain('chat message sent');
    for (const secret of SECRETS) expect(r.log, secret).not.toContain(secret);
  });

  it('a failed run\'s message names the cause', async () => {
    receiver.clear();
    const r = await command(['run', '--date', FIXTURE_DATE], { ...env, YZH_BASE_URL: 'http://127.0.0.1:1', YZH_RETRIES: '0', YZH_NOTIFY_ON: 'critical' });
    expect(r.code).toBe(1);
    const cause = r.stderr.replace(/^yzh-recon: /, '').trim().split('\n')[0]!;
    expect(cause.length).toBeGreaterThan(5);
    for (const kind of ['wecom', 'dingtalk', 'feishu', 'json']) expect(receiver.got[kind]!.map((g) => g.verdict), kind).toEqual(['ok']);
    const wecom = (receiver.got.wecom![0]!.body.markdown as { content: string }).content;
    expect(wecom).toContain(`### 云账户对账 ${FIXTURE_DATE} 对账失败`);
    expect(wecom).toContain('**运行结果**：**失败**');
    expect(wecom).toContain(`**原因**：\`${cause.slice(0, 100)}`);
    expect(receiver.got.json![0]!.body).toMatchObject({ outcome: 'failed', error: cause });
    for (const secret of SECRETS) expect(r.log, secret).not.toContain(secret);
  });

  it('a receiver that hangs or answers 500 delays sending by a few seconds at most, and the run still succeeds', async () => {
    receiver.clear();
    const base = `http://127.0.0.1:${receiver.port}`;
    const slow = { ...env, YZH_NOTIFY_URLS: `feishu+${base}/hang/x?key=hang-key,wecom+${base}/fail/y?key=fail-key`, YZH_NOTIFY_SECRETS: '', YZH_NOTIFY_ON: 'always' };
    const r = await command(['run', '--date', FIXTURE_DATE], slow);
    expect(r.code, r.stderr).toBe(0);
    expect(r.log).toContain('chat message not delivered');
    expect(receiver.got.fail!.length).toBe(3);
    expect(receiver.got.hang!.length).toBeGreaterThanOrEqual(1);
    expect(r.log).not.toContain('hang-key');
    expect(r.log).not.toContain('fail-key');

    // The sending alone, timed: within its five-second budget.
    const config = loadConfig(slow);
    const db = await openDatabase(config);
    try {
      const started = performance.now();
      const answers = await notifyAfterRun(db, config.notify, { dealerId: 'sixcn', date: FIXTURE_DATE, result: undefined, error: new Error('x'), durationSeconds: 1 }, pino({ level: 'silent' }));
      const took = performance.now() - started;
      expect(answers.map((a) => a.ok)).toEqual([false, false]);
      expect(answers[0]!.detail).toMatch(/no answer in time/);
      expect(answers[1]!.detail).toBe('HTTP 500');
      expect(took).toBeLessThan(6_500);
    } finally {
      await db.close();
    }
  });

  it('notify --test sends a test message and reports each webhook\'s answer', async () => {
    receiver.clear();
    const r = await command(['notify', '--test'], env);
    expect(r.code, r.stderr).toBe(0);
    const base = `127.0.0.1:${receiver.port}`;
    expect(r.stdout).toBe([
      `webhook 1 (企业微信, ${base}): ok (HTTP 200, code 0 "ok")`,
      `webhook 2 (钉钉, ${base}): ok (HTTP 200, code 0 "ok")`,
      `webhook 3 (飞书, ${base}): ok (HTTP 200, code 0 "success")`,
      `webhook 4 (JSON, ${base}): ok (HTTP 204)`,
      '',
    ].join('\n'));
    expect((receiver.got.wecom![0]!.body.markdown as { content: string }).content).toContain('测试消息');
    const wrong = await command(['notify', '--test'], { ...env, YZH_NOTIFY_SECRETS: ['', 'SECwrong', FEISHU_SECRET, JSON_SECRET].join(',') });
    expect(wrong.code).toBe(1);
    expect(wrong.stdout).toContain(`webhook 2 (钉钉, ${base}): NOT DELIVERED (HTTP 200, code 310000 "sign not match")`);
    expect(receiver.got.dingtalk!.at(-1)!.verdict).toBe('bad sign');
    const none = await command(['notify', '--test'], { ...env, YZH_NOTIFY_URLS: '' });
    expect([none.code, none.stderr.trim()]).toEqual([2, 'yzh-recon: notify: YZH_NOTIFY_URLS is not set: no webhook to test']);
  });
});
