import { createHmac } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { parse as parseSync } from 'csv-parse/sync';
import { DateTime } from 'luxon';
import { decrypt3des, encrypt3des, sign, signatureMatches } from './crypto.js';
import { CHANNEL_NAMES, ENDPOINTS, SIGNATURE_WINDOW_SECONDS, type FileKind } from './protocol.js';

export interface SandboxOptions {
  /** Folder of `<YYYY-MM-DD>/orders.csv[.gz]` and `bills.csv[.gz]`. */
  dir: string;
  dealerId: string;
  appKey: string;
  des3Key: string;
  host?: string;
  port?: number;
  /** Files older than this many days answer `""` as the provider does; null disables it. */
  retentionDays?: number | null;
}

/** Faults for tests; each counter is consumed by the calls it affects. */
export interface SandboxFaults {
  /** The next N API calls answer this HTTP status. */
  apiHttpErrors: number;
  apiHttpStatus: number;
  /** The next N API calls answer this provider code. */
  providerCode: string | null;
  providerCodeCalls: number;
  /** The next N URL answers carry `""` as the download URL. */
  emptyUrlCalls: number;
  /** The next N downloads answer this HTTP status. */
  downloadHttpErrors: number;
  downloadHttpStatus: number;
  /** The next N downloads stop halfway through the gzip stream. */
  truncatedDownloads: number;
  /** The next N downloads send half the body, then stall this long before going on. */
  stalledDownloads: number;
  stallMs: number;
  /** Every download is paced to this many bytes a second (0: no pacing). */
  downloadBytesPerSecond: number;
  /** The next N API calls answer this body verbatim, HTTP 200 (`{"code":"0000","data":null}`). */
  rawAnswer: string | null;
  rawAnswerCalls: number;
  /** The next N real-time order queries answer HTTP apiHttpStatus. */
  orderQueryHttpErrors: number;
  /** The next N real-time order queries wait stallMs before answering (a client timeout). */
  orderQueryStalls: number;
  /** Every real-time order query waits this long, then answers as usual (a slow provider). */
  orderQueryDelayMs: number;
  /** The next N balance queries answer HTTP apiHttpStatus. */
  accountsHttpErrors: number;
}

export interface SandboxCall {
  endpoint: string;
  requestId: string | undefined;
  code: string;
  /** The order asked about (real-time order query). */
  orderId?: string;
}

/** Every HTTP request the sandbox received, API calls and downloads alike, in order. */
export interface SandboxRequest {
  method: string;
  path: string;
}

const NO_FAULTS: SandboxFaults = {
  apiHttpErrors: 0, apiHttpStatus: 502, providerCode: null, providerCodeCalls: 0, emptyUrlCalls: 0,
  downloadHttpErrors: 0, downloadHttpStatus: 503, truncatedDownloads: 0, stalledDownloads: 0, stallMs: 0,
  downloadBytesPerSecond: 0, rawAnswer: null, rawAnswerCalls: 0, orderQueryHttpErrors: 0, orderQueryStalls: 0, orderQueryDelayMs: 0, accountsHttpErrors: 0,
};

const MESSAGES: Record<string, string> = {
  '0000': '操作成功', '1001': '签名已过期', '1002': '请求参数格式不正确', '1003': '签名错误', '1004': '加密错误',
  '1005': '商户未设置3deskey或没有设置appkey', '2011': '订单不存在', '2018': '该笔订单不存在', '3000': '银行系统连接失败,请联系我们修复',
  '5000': '不存在的账单',
};

const FILE_NAMES: Record<FileKind, string> = { order: 'orders.csv', bill: 'bills.csv' };
const DATE = /^\d{4}-\d{2}-\d{2}$/;
/**
 * What the real-time order query says of an order, from its latest order-file row (document
 * appendices 1 and 2: status, status_detail and their messages).
 */
const STATUS_CODES: Record<string, LiveAnswer> = {
  成功: { status: 1, status_detail: 0, status_message: '已打款', status_detail_message: '成功' },
  '成功(待领取)': { status: 1, status_detail: 27, status_message: '已打款', status_detail_message: '微信红包待领取' },
  失败: { status: 2, status_detail: 0, status_message: '打款失败', status_detail_message: '打款失败' },
  退汇: { status: 9, status_detail: 213, status_message: '打款失败(已退款,退汇或者冲正)', status_detail_message: '系统打款和经纪公司打款都失败' },
  删除: { status: 15, status_detail: 0, status_message: '取消支付', status_detail_message: '取消支付' },
  挂单: { status: 4, status_detail: 0, status_message: '待打款(暂停处理)', status_detail_message: '待打款(暂停处理)' },
  打款中: { status: 5, status_detail: 0, status_message: '打款中(状态未知)', status_detail_message: '打款中(状态未知)' },
};
const ACCEPTED: LiveAnswer = { status: 0, status_detail: 0, status_message: '已受理', status_detail_message: '已受理' };

interface LiveAnswer {
  status: number;
  status_detail: number;
  status_message: string;
  status_detail_message: string;
}

/**
 * What `live.json` (in the sandbox folder or a day folder) can tell the sandbox to answer for
 * an order, by name; an object gives the fields itself.
 */
const LIVE_NAMES: Record<string, LiveAnswer | 'not_found'> = {
  claimed: { status: 1, status_detail: 0, status_message: '已打款', status_detail_message: '成功' },
  pending: STATUS_CODES['成功(待领取)']!,
  returned: STATUS_CODES['退汇']!,
  paid: STATUS_CODES['成功']!,
  failed: STATUS_CODES['失败']!,
  on_hold: STATUS_CODES['挂单']!,
  not_found: 'not_found',
};

/** The document's own example answer of query-accounts, when the folder has no accounts.json. */
const DEFAULT_ACCOUNTS = [{
  broker_id: 'yiyun**', bank_card_balance: '997.84', is_bank_card: true, alipay_balance: '0', is_alipay: false,
  wxpay_balance: '997.84', is_wxpay: true, rebate_fee_balance: '0.00',
}];

class Reply extends Error {
  constructor(readonly code: string, readonly data?: unknown) {
    super(code);
  }
}

/**
 * A local double of the provider API: the same endpoints, signing, encryption, error codes and
 * gzip CSV downloads, served from a folder. The real client talks to it over HTTP.
 */
export class Sandbox {
  readonly faults: SandboxFaults = { ...NO_FAULTS };
  readonly calls: SandboxCall[] = [];
  /** The most real-time order queries that were being answered at once. */
  maxConcurrentOrderQueries = 0;
  private orderQueriesInFlight = 0;
  /** Every request received (a test that must not reach the provider expects it empty). */
  readonly requests: SandboxRequest[] = [];
  /** Days whose files answer `""` as the provider does past its 90 days, whatever their age. */
  readonly expiredDays = new Set<string>();
  private server: Server | null = null;
  private baseUrl = '';

  constructor(private readonly options: SandboxOptions) {}

  get url(): string {
    return this.baseUrl;
  }

  resetFaults(): void {
    Object.assign(this.faults, NO_FAULTS);
  }

  /**
   * Serves a new generation of a day's files, as the provider regenerates the day before at
   * 03:45, 11:45 and 16:45 (bills 15 minutes earlier): text is served gzipped, bytes as they
   * are. The download's Last-Modified is `generatedAt`.
   */
  regenerate(date: string, files: Partial<Record<FileKind, string | Buffer>>, generatedAt: Date): void {
    const day = join(this.options.dir, date);
    mkdirSync(day, { recursive: true });
    for (const [kind, content] of Object.entries(files) as [FileKind, string | Buffer][]) {
      const base = join(day, FILE_NAMES[kind]);
      rmSync(base, { force: true });
      rmSync(`${base}.gz`, { force: true });
      const path = Buffer.isBuffer(content) ? `${base}.gz` : base;
      writeFileSync(path, content);
      utimesSync(path, generatedAt, generatedAt);
    }
  }

  async start(): Promise<string> {
    const server = createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(String((err as Error).message));
      });
    });
    server.keepAliveTimeout = 1000;
    // A port in use (EADDRINUSE) or not allowed (EACCES) rejects here, for the caller to word.
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.options.port ?? 0, this.options.host ?? '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
    const { address, port } = server.address() as AddressInfo;
    this.baseUrl = `http://${address.includes(':') ? `[${address}]` : address}:${port}`;
    return this.baseUrl;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (server === null) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://sandbox');
    this.requests.push({ method: req.method ?? 'GET', path: url.pathname });
    if (url.pathname.startsWith('/download/')) return this.download(url, res);
    const endpoint = Object.values(ENDPOINTS).find((p) => p === url.pathname.replace(/\/$/, ''));
    if (endpoint === undefined || req.method !== 'GET') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    const requestId = header(req, 'request-id');
    const isOrderQuery = endpoint === ENDPOINTS.queryOrder;
    if (isOrderQuery) {
      this.orderQueriesInFlight++;
      this.maxConcurrentOrderQueries = Math.max(this.maxConcurrentOrderQueries, this.orderQueriesInFlight);
      res.on('close', () => { this.orderQueriesInFlight--; });
    }
    const httpFault = this.faults.apiHttpErrors > 0 ? (this.faults.apiHttpErrors--, true)
      : isOrderQuery && this.faults.orderQueryHttpErrors > 0 ? (this.faults.orderQueryHttpErrors--, true)
        : endpoint === ENDPOINTS.queryAccounts && this.faults.accountsHttpErrors > 0 ? (this.faults.accountsHttpErrors--, true)
          : false;
    if (httpFault) {
      this.calls.push({ endpoint, requestId, code: `HTTP ${this.faults.apiHttpStatus}` });
      res.writeHead(this.faults.apiHttpStatus, { 'content-type': 'text/html' }).end('<html>Bad Gateway</html>');
      return;
    }
    if (this.faults.rawAnswerCalls > 0 && this.faults.rawAnswer !== null) {
      this.faults.rawAnswerCalls--;
      this.calls.push({ endpoint, requestId, code: 'raw' });
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', date: new Date().toUTCString() }).end(this.faults.rawAnswer);
      return;
    }
    if (isOrderQuery && this.faults.orderQueryStalls > 0) {
      this.faults.orderQueryStalls--;
      this.calls.push({ endpoint, requestId, code: 'stalled' });
      await new Promise((resolve) => setTimeout(resolve, this.faults.stallMs));
      if (!res.destroyed) res.writeHead(504, { 'content-type': 'text/plain' }).end('stalled');
      return;
    }
    if (isOrderQuery && this.faults.orderQueryDelayMs > 0) {
      await new Promise((resolve) => setTimeout(resolve, this.faults.orderQueryDelayMs));
      if (res.destroyed) return;
    }
    let reply: Reply;
    let orderId: string | undefined;
    try {
      reply = this.api(endpoint, req, url, (id) => { orderId = id; });
    } catch (err) {
      if (!(err instanceof Reply)) throw err;
      reply = err;
    }
    this.calls.push({ endpoint, requestId, code: reply.code, ...(orderId === undefined ? {} : { orderId }) });
    const body = { code: reply.code, message: MESSAGES[reply.code] ?? '错误', data: reply.data ?? {}, request_id: requestId ?? '' };
    res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', date: new Date().toUTCString() });
    res.end(JSON.stringify(body));
  }

  /** Authenticates and answers one API call, throwing a Reply for every provider error. */
  private api(endpoint: string, req: IncomingMessage, url: URL, onOrder: (orderId: string) => void): Reply {
    const { dealerId, appKey, des3Key } = this.options;
    const dealer = header(req, 'dealer-id');
    if (dealer === undefined || dealer !== dealerId) throw new Reply('1005');
    if (header(req, 'request-id') === undefined) throw new Reply('1002');
    const p = Object.fromEntries(url.searchParams);
    const { data, mess, timestamp, sign: signature, sign_type: signType } = p;
    if (!data || !mess || !timestamp || !signature || signType !== 'sha256' || !/^\d+$/.test(timestamp)) throw new Reply('1002');
    // The provider's own Node SDK sends milliseconds, the document says seconds: accept both.
    const seconds = Number(timestamp) > 1e11 ? Math.floor(Number(timestamp) / 1000) : Number(timestamp);
    if (Math.abs(Date.now() / 1000 - seconds) > SIGNATURE_WINDOW_SECONDS) throw new Reply('1001');
    if (!signatureMatches(sign(data, mess, timestamp, appKey), signature)) throw new Reply('1003');
    let payload: Record<string, unknown>;
    try {
      payload = JSON.parse(decrypt3des(data, des3Key)) as Record<string, unknown>;
    } catch {
      throw new Reply('1004');
    }
    if (endpoint === ENDPOINTS.queryOrder && typeof payload.order_id === 'string') onOrder(payload.order_id);
    if (this.faults.providerCodeCalls > 0 && this.faults.providerCode !== null) {
      this.faults.providerCodeCalls--;
      throw new Reply(this.faults.providerCode);
    }
    switch (endpoint) {
      case ENDPOINTS.orderFileUrl:
        return this.fileUrl('order', payload.order_date);
      case ENDPOINTS.billFileUrl:
        return this.fileUrl('bill', payload.bill_date);
      case ENDPOINTS.queryOrder:
        return this.queryOrder(payload);
      default:
        return this.accounts(payload);
    }
  }

  private fileUrl(kind: FileKind, date: unknown): Reply {
    if (typeof date !== 'string' || !DATE.test(date) || !DateTime.fromISO(date).isValid) throw new Reply('1002');
    const key = kind === 'order' ? 'order_download_url' : 'bill_download_url';
    const retention = this.options.retentionDays === undefined ? 90 : this.options.retentionDays;
    const expired = this.expiredDays.has(date) || (retention !== null && DateTime.fromISO(date) < DateTime.now().minus({ days: retention }));
    if (this.faults.emptyUrlCalls > 0 || expired) {
      if (!expired) this.faults.emptyUrlCalls--;
      return new Reply('0000', { [key]: '' });
    }
    if (this.filePath(date, kind) === null) throw new Reply('5000');
    const expires = String(Math.floor(Date.now() / 1000) + 600);
    const token = this.downloadToken(date, kind, expires);
    return new Reply('0000', { [key]: `${this.baseUrl}/download/${date}/${kind}.csv.gz?expires=${expires}&token=${token}` });
  }

  /**
   * The real-time order query: the order's latest row in the folder's order files, as its
   * status codes; `live.json` overrides that per order (claimed, pending, returned, not_found,
   * ...). With data_type "encryption" the answer's data holds only encry_data, the same object
   * 3DES-encrypted like a request's data (document 2.1 item 4).
   */
  private queryOrder(payload: Record<string, unknown>): Reply {
    const orderId = payload.order_id;
    if (typeof orderId !== 'string' || orderId === '') throw new Reply('1002');
    if (payload.channel !== undefined && payload.channel !== '' && !Object.values(CHANNEL_NAMES).includes(payload.channel as never)) {
      throw new Reply('1002');
    }
    const override = this.liveOverride(orderId);
    if (override === 'not_found') throw new Reply('2018');
    const row = this.latestOrderRow(orderId);
    if (row === null && override === null) throw new Reply('2018');
    const codes = override ?? STATUS_CODES[row?.['订单状态'] ?? ''] ?? ACCEPTED;
    const order = {
      order_id: orderId, ref: row?.['订单流水号'] ?? '', broker_id: row?.['经纪公司ID'] ?? '', dealer_id: this.options.dealerId,
      pay: (override as { pay?: string } | null)?.pay ?? row?.['金额'] ?? '0.00', ...codes,
      sys_amount: row?.['金额'] ?? '0.00', real_name: row?.['姓名'] ?? '', card_no: row?.['收款账号'] ?? '',
      created_at: row?.['创建时间'] ?? '', finished_time: (override as { finished_time?: string } | null)?.finished_time ?? row?.['完成时间'] ?? '',
    };
    if (payload.data_type === 'encryption') {
      return new Reply('0000', { encry_data: encrypt3des(JSON.stringify(order), this.options.des3Key) });
    }
    return new Reply('0000', order);
  }

  private latestOrderRow(orderId: string): Record<string, string> | null {
    for (const date of this.days()) {
      const path = join(this.options.dir, date, FILE_NAMES.order);
      if (!existsSync(path)) continue;
      const rows = parseSync<Record<string, string>>(readFileSync(path), { columns: true, bom: true, skip_empty_lines: true });
      const row = rows.reverse().find((r) => r['商户订单号'] === orderId);
      if (row !== undefined) return row;
    }
    return null;
  }

  /** The newest day folder's live.json that names the order, else the folder's own. */
  private liveOverride(orderId: string): (LiveAnswer & { pay?: string; finished_time?: string }) | 'not_found' | null {
    const files = [...this.days().map((d) => join(this.options.dir, d, 'live.json')), join(this.options.dir, 'live.json')];
    for (const file of files) {
      if (!existsSync(file)) continue;
      const answers = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
      const given = answers[orderId];
      if (given === undefined) continue;
      if (typeof given === 'string') {
        const named = LIVE_NAMES[given];
        if (named === undefined) throw new Error(`${file}: unknown answer "${given}" for ${orderId} (one of ${Object.keys(LIVE_NAMES).join(', ')})`);
        return named;
      }
      return { ...ACCEPTED, ...(given as Partial<LiveAnswer>) };
    }
    return null;
  }

  private days(): string[] {
    return readdirSync(this.options.dir).filter((d) => DATE.test(d)).sort().reverse();
  }

  /** The balance query: the folder's accounts.json (the answer's dealer_infos), else the document's example. */
  private accounts(payload: Record<string, unknown>): Reply {
    if (payload.dealer_id !== this.options.dealerId) throw new Reply('1002');
    const file = join(this.options.dir, 'accounts.json');
    const infos = existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) as unknown : DEFAULT_ACCOUNTS;
    return new Reply('0000', { dealer_infos: Array.isArray(infos) ? infos : (infos as { dealer_infos: unknown }).dealer_infos });
  }

  private downloadToken(date: string, kind: string, expires: string): string {
    return createHmac('sha256', this.options.appKey).update(`${date}/${kind}/${expires}`).digest('hex').slice(0, 32);
  }

  private filePath(date: string, kind: FileKind): { path: string; gzipped: boolean } | null {
    const base = join(this.options.dir, date, FILE_NAMES[kind]);
    if (existsSync(`${base}.gz`)) return { path: `${base}.gz`, gzipped: true };
    if (existsSync(base)) return { path: base, gzipped: false };
    return null;
  }

  private async download(url: URL, res: ServerResponse): Promise<void> {
    const m = /^\/download\/(\d{4}-\d{2}-\d{2})\/(order|bill)\.csv\.gz$/.exec(url.pathname);
    const expires = url.searchParams.get('expires') ?? '';
    const file = m ? this.filePath(m[1]!, m[2] as FileKind) : null;
    if (m === null || file === null || url.searchParams.get('token') !== this.downloadToken(m[1]!, m[2]!, expires)
        || Number(expires) < Date.now() / 1000) {
      res.writeHead(403, { 'content-type': 'text/plain' }).end('forbidden');
      return;
    }
    if (this.faults.downloadHttpErrors > 0) {
      this.faults.downloadHttpErrors--;
      res.writeHead(this.faults.downloadHttpStatus, { 'content-type': 'text/plain' }).end('unavailable');
      return;
    }
    const mtime = statSync(file.path).mtime;
    const source: Readable = file.gzipped ? createReadStream(file.path) : createReadStream(file.path).pipe(createGzip({ level: 6 }));
    const headers: Record<string, string | number> = { 'content-type': 'application/gzip', 'last-modified': mtime.toUTCString() };
    if (file.gzipped) headers['content-length'] = statSync(file.path).size;
    const truncate = this.faults.truncatedDownloads > 0 ? (this.faults.truncatedDownloads--, true) : false;
    const stall = this.faults.stalledDownloads > 0 ? (this.faults.stalledDownloads--, this.faults.stallMs) : 0;
    if (truncate || stall > 0) {
      // Buffer the (small, test-sized) file so that "half" is known, then cut or stall there.
      const chunks: Buffer[] = [];
      for await (const chunk of source) chunks.push(chunk as Buffer);
      const body = Buffer.concat(chunks);
      const half = Math.floor(body.length / 2);
      delete headers['content-length'];
      res.writeHead(200, headers);
      res.write(body.subarray(0, half));
      if (truncate) {
        res.end();
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, stall));
      if (!res.destroyed) res.end(body.subarray(half));
      return;
    }
    res.writeHead(200, headers);
    await pipeline(source, pace(this.faults.downloadBytesPerSecond), res).catch(() => res.destroy());
  }
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/** Paces a stream to a byte rate, for slow-download tests; a pass-through at 0. */
function pace(bytesPerSecond: number): Transform {
  const started = Date.now();
  let sent = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      if (bytesPerSecond <= 0) return done(null, chunk);
      sent += chunk.length;
      const due = started + (sent / bytesPerSecond) * 1000;
      setTimeout(() => done(null, chunk), Math.max(0, due - Date.now()));
    },
  });
}
