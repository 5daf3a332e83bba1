import { createHash, randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Agent, errors as undiciErrors, request, type Dispatcher } from 'undici';
import type { ProviderConfig } from '../config.js';
import { fileError, ReconError } from '../errors.js';
import type { Logger } from '../logger.js';
import { decrypt3des, encrypt3des, randomMess, sign } from './crypto.js';
import { CHANNEL_NAMES, ENDPOINTS, PROVIDER_CODES, SUCCESS_CODE, type Channel, type FileKind, type ProviderEnvelope } from './protocol.js';
import { TransientError, withRetries, type RetryPolicy } from './retry.js';

export interface RealtimeOrder {
  order_id: string;
  ref: string;
  status: number;
  status_detail: number;
  status_message: string;
  pay: string;
  created_at: string;
  finished_time: string;
  [field: string]: unknown;
}

/** What the provider answered to one call, whatever its code. */
export interface ProviderAnswer<T> {
  code: string;
  message: string;
  data: T | undefined;
  /** The provider's request_id (ours, echoed), to quote to the provider. */
  requestId: string;
}

/** The real-time order query's answer: the order when the code is 0000, else null. */
export interface OrderAnswer {
  code: string;
  message: string;
  order: RealtimeOrder | null;
  requestId: string;
}

export interface DealerAccount {
  broker_id: string;
  bank_card_balance: string;
  alipay_balance: string;
  wxpay_balance: string;
  rebate_fee_balance: string;
  is_bank_card: boolean;
  is_alipay: boolean;
  is_wxpay: boolean;
}

export interface DownloadResult {
  path: string;
  sha256: string;
  bytes: number;
  /** The server's Last-Modified, taken as the file's generation time when present. */
  lastModified: Date | null;
}

/** The provider answered `""` for a file's URL: the day is past its 90-day retention. */
export function isExpired(err: unknown): boolean {
  return err instanceof ReconError && err.facts.reason === 'expired';
}

export interface ClientOptions {
  retryBaseDelayMs?: number;
}

/** A JSON value in a message: its type, and its text when short (answers carry no personal data in these fields). */
function describe(value: unknown): string {
  if (value === undefined) return 'missing';
  if (value === null) return 'null';
  const text = JSON.stringify(value);
  const type = Array.isArray(value) ? 'a list' : typeof value === 'object' ? 'an object' : `a ${typeof value}`;
  return text.length <= 40 ? `${type} ${text}` : type;
}

/** The largest API answer read (docs/contract.md section 6): the real-time order query's is a few hundred bytes. */
export const MAX_ANSWER_BYTES = 1024 * 1024;

/**
 * An API answer's body as text, read while it comes and refused (the rest never read) once it
 * passes MAX_ANSWER_BYTES, or at once when its Content-Length says it will.
 */
async function readAnswerBody(body: Dispatcher.ResponseData['body'], declared: number, what: string, facts: Record<string, string>): Promise<string> {
  const refuse = () => {
    body.destroy();
    return new ReconError('PROVIDER', `${what} answered more than 1 MiB (${MAX_ANSWER_BYTES} bytes); refused`, { facts });
  };
  if (declared > MAX_ANSWER_BYTES) throw refuse();
  const chunks: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of body) {
    const buffer = chunk as Buffer;
    bytes += buffer.length;
    if (bytes > MAX_ANSWER_BYTES) throw refuse();
    chunks.push(buffer);
  }
  return Buffer.concat(chunks, bytes).toString('utf8');
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|localhost|\[::1\])$/;
const MAX_REDIRECTS = 3;

/**
 * Talks to the provider. Every API call is a signed GET with a fresh request-id; transient
 * failures are retried with backoff, business codes are not. Download URLs get no keys.
 */
export class ProviderClient {
  private readonly agent: Agent;
  private readonly retry: RetryPolicy;
  /** The provider's clock as of the last answer (its HTTP Date header), for the clock check. */
  lastServerDate: Date | null = null;

  constructor(
    private readonly config: ProviderConfig,
    private readonly log: Logger,
    options: ClientOptions = {},
  ) {
    this.agent = new Agent({
      connect: { timeout: config.timeoutMs },
      headersTimeout: config.timeoutMs,
      bodyTimeout: config.timeoutMs,
    });
    this.retry = { retries: config.retries, baseDelayMs: options.retryBaseDelayMs ?? 500 };
  }

  async close(): Promise<void> {
    await this.agent.close();
  }

  /** The same client (connections, retry policy) logging through `log`: a run's child logger. */
  withLog(log: Logger): ProviderClient {
    const scoped = Object.create(this) as ProviderClient;
    Object.defineProperty(scoped, 'log', { value: log });
    return scoped;
  }

  /**
   * The download URL of the day's order or bill file. `""` past the 90-day retention is an
   * error whose facts carry `reason: 'expired'` (see `isExpired`), so a run can turn to the archive.
   */
  async fileUrl(kind: FileKind, date: string, signal?: AbortSignal): Promise<string> {
    const path = kind === 'order' ? ENDPOINTS.orderFileUrl : ENDPOINTS.billFileUrl;
    const payload = kind === 'order' ? { order_date: date } : { bill_date: date };
    const key = kind === 'order' ? 'order_download_url' : 'bill_download_url';
    const data = await this.call<Record<string, unknown>>(path, payload, signal,
      (d) => (typeof d[key] === 'string' ? null : `${key} ${describe(d[key])}, not a string`));
    const url = data[key] as string;
    if (url === '') {
      throw new ReconError(
        'PROVIDER',
        `the provider returned no download URL for the ${kind} file of ${date}: files are kept 90 days, this one is past retention`,
        { facts: { kind, date, reason: 'expired' } },
      );
    }
    return url;
  }

  async queryOrder(orderId: string, channel: Channel, signal?: AbortSignal): Promise<RealtimeOrder> {
    const answer = await this.askOrder(orderId, channel, signal);
    if (answer.order === null) throw this.codeError(ENDPOINTS.queryOrder, answer);
    return answer.order;
  }

  /**
   * The real-time order query (document 2.1 item 4), asked with data_type "encryption" so that
   * the answer's personal fields (name, ID and card numbers, phone) cross the wire encrypted
   * like a request's data: the answer's `data` then holds only `encry_data`. A provider that
   * answers in plain text is read as it is. Business codes (2011/2018: no such order) come back
   * as the answer; a transport failure, after the retries, or an answer of the wrong shape is
   * thrown.
   */
  async askOrder(orderId: string, channel: Channel, signal?: AbortSignal): Promise<OrderAnswer> {
    const path = ENDPOINTS.queryOrder;
    const payload = { order_id: orderId, channel: CHANNEL_NAMES[channel], data_type: 'encryption' };
    const answer = await this.answer(path, payload, signal);
    if (answer.code !== SUCCESS_CODE) {
      return { code: answer.code, message: answer.message, order: null, requestId: answer.requestId };
    }
    let data = this.checked(path, answer, (d) => (typeof d.encry_data === 'string' || typeof d.order_id === 'string'
      ? null
      : `order_id ${describe(d.order_id)}, not a string`));
    if (typeof data.encry_data === 'string') {
      let decrypted: unknown;
      try {
        decrypted = JSON.parse(decrypt3des(data.encry_data, this.config.des3Key));
      } catch {
        throw new ReconError('PROVIDER', `GET ${path}: encry_data could not be decrypted with YZH_DES3_KEY [request_id ${answer.requestId}]`, {
          facts: { endpoint: path, requestId: answer.requestId, providerCode: answer.code },
        });
      }
      data = this.checked(path, { ...answer, data: decrypted }, (d) => (typeof d.order_id === 'string' ? null : `order_id ${describe(d.order_id)}, not a string`));
    }
    return { code: answer.code, message: answer.message, order: data as RealtimeOrder, requestId: answer.requestId };
  }

  async queryAccounts(signal?: AbortSignal): Promise<DealerAccount[]> {
    return (await this.accounts(signal)).accounts;
  }

  /** The balance query (document 2.1 item 6), with the request id of the answer. */
  async accounts(signal?: AbortSignal): Promise<{ accounts: DealerAccount[]; requestId: string }> {
    const path = ENDPOINTS.queryAccounts;
    const answer = await this.answer(path, { dealer_id: this.config.dealerId }, signal);
    if (answer.code !== SUCCESS_CODE) throw this.codeError(path, answer);
    const data = this.checked(path, answer, (d) => (d.dealer_infos === undefined
      || (Array.isArray(d.dealer_infos) && d.dealer_infos.every((a) => a !== null && typeof a === 'object'))
      ? null
      : `dealer_infos ${describe(d.dealer_infos)}, not a list of accounts`));
    return { accounts: (data.dealer_infos as DealerAccount[] | undefined) ?? [], requestId: answer.requestId };
  }

  /**
   * One signed API call, retried on transient failures; returns the envelope's `data`, an
   * object. `check` names what is wrong with the fields the caller reads (null: nothing), so
   * that an answer of the wrong shape is a provider error naming the endpoint and request id,
   * never a TypeError further on.
   */
  async call<T>(path: string, payload: object, signal?: AbortSignal, check?: (data: Record<string, unknown>) => string | null): Promise<T> {
    const answer = await this.answer(path, payload, signal);
    if (answer.code !== SUCCESS_CODE) throw this.codeError(path, answer);
    return this.checked(path, answer, check) as T;
  }

  /** One signed API call, retried on transient failures; the answer whatever its code. */
  async answer(path: string, payload: object, signal?: AbortSignal): Promise<ProviderAnswer<unknown>> {
    return withRetries(`GET ${path}`, this.retry, this.log, () => this.callOnce(path, payload, signal), signal);
  }

  /** A 0000 answer's `data` as an object that passes `check`, else a provider error. */
  private checked(path: string, answer: ProviderAnswer<unknown>, check?: (data: Record<string, unknown>) => string | null): Record<string, unknown> {
    const facts = { endpoint: path, requestId: answer.requestId, providerCode: answer.code };
    const data = answer.data;
    if (data === null || data === undefined || typeof data !== 'object' || Array.isArray(data)) {
      throw new ReconError('PROVIDER', `GET ${path} answered code 0000 with data ${describe(data)}, not an object [request_id ${answer.requestId}]`, { facts });
    }
    const problem = check?.(data as Record<string, unknown>) ?? null;
    if (problem !== null) {
      throw new ReconError('PROVIDER', `GET ${path} answered code 0000 with ${problem} [request_id ${answer.requestId}]`, { facts });
    }
    return data as Record<string, unknown>;
  }

  private codeError(path: string, answer: { code: string; message: string; requestId: string }): ReconError {
    const advice = PROVIDER_CODES[answer.code] ?? 'see the provider document\'s error table';
    return new ReconError(
      'PROVIDER',
      `provider code ${answer.code} (${answer.message}) on GET ${path}: ${advice} [request_id ${answer.requestId}]`,
      { facts: { endpoint: path, providerCode: answer.code, requestId: answer.requestId } },
    );
  }

  private async callOnce(path: string, payload: object, signal?: AbortSignal): Promise<ProviderAnswer<unknown>> {
    const requestId = randomUUID();
    const data = encrypt3des(JSON.stringify(payload), this.config.des3Key);
    const mess = randomMess();
    const timestamp = String(Math.floor(Date.now() / 1000));
    const query = new URLSearchParams({
      data, mess, timestamp, sign: sign(data, mess, timestamp, this.config.appKey), sign_type: 'sha256',
    });
    const started = performance.now();
    const facts = { endpoint: path, requestId };
    // One deadline for the whole exchange, headers and body: undici's own timeouts are per
    // pause, and an answer trickling a byte at a time would never run into them.
    // One controller per call, aborted by the deadline or by the caller's signal (a listener
    // removed after the call, not AbortSignal.any: the caller's signal lives the whole run).
    const call = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => { timedOut = true; call.abort(); }, this.config.timeoutMs);
    const onAbort = () => call.abort();
    if (signal?.aborted) call.abort();
    signal?.addEventListener('abort', onAbort, { once: true });
    let statusCode: number;
    let text: string;
    try {
      const response = await request(`${this.config.baseUrl}${path}?${query.toString()}`, {
        method: 'GET',
        dispatcher: this.agent,
        headers: { 'dealer-id': this.config.dealerId, 'request-id': requestId, accept: 'application/json' },
        signal: call.signal,
      });
      statusCode = response.statusCode;
      const date = response.headers.date;
      if (typeof date === 'string' && !Number.isNaN(Date.parse(date))) this.lastServerDate = new Date(date);
      text = await readAnswerBody(response.body, Number(response.headers['content-length'] ?? NaN), `GET ${path}`, facts);
    } catch (err) {
      if (err instanceof ReconError) throw err;
      if (timedOut && !signal?.aborted) {
        throw new TransientError(`GET ${path}: timed out after ${this.config.timeoutMs} ms (YZH_TIMEOUT_MS, the whole exchange)`, { cause: err, facts });
      }
      throw this.transportError(err, `GET ${path}`, facts, signal);
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    }
    this.log.debug({ ...facts, status: statusCode, ms: Math.round(performance.now() - started) }, 'provider call');
    if (statusCode >= 500 || statusCode === 429) {
      throw new TransientError(`GET ${path} answered HTTP ${statusCode} (request_id ${requestId})`, { facts: { ...facts, httpStatus: statusCode } });
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new ReconError('PROVIDER', `GET ${path} answered HTTP ${statusCode} with a body that is not JSON (request_id ${requestId})`, { facts });
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      throw new ReconError('PROVIDER', `GET ${path} answered HTTP ${statusCode} with ${describe(parsed)}, not a provider envelope (request_id ${requestId})`, { facts });
    }
    const envelope = parsed as Partial<Record<keyof ProviderEnvelope<unknown>, unknown>>;
    const providerRequestId = typeof envelope.request_id === 'string' && envelope.request_id !== '' ? envelope.request_id : requestId;
    if (typeof envelope.code !== 'string') {
      throw new ReconError('PROVIDER', `GET ${path} answered HTTP ${statusCode} with code ${describe(envelope.code)}, not a provider code [request_id ${providerRequestId}]`, {
        facts: { ...facts, requestId: providerRequestId },
      });
    }
    return {
      code: envelope.code,
      message: typeof envelope.message === 'string' ? envelope.message : 'no message',
      data: envelope.data,
      requestId: providerRequestId,
    };
  }

  /**
   * Streams a provider file to `path`, hashing it on the way. Never sends the API keys; follows
   * only https (http for loopback or when allowed), caps the size, retries the whole download
   * on transient failures (a stalled body included).
   */
  async download(url: string, path: string, label: string, signal?: AbortSignal, onBytes?: (bytes: number) => void): Promise<DownloadResult> {
    return withRetries(`download ${label}`, this.retry, this.log, () => this.downloadOnce(url, path, label, signal, onBytes), signal);
  }

  private checkDownloadUrl(raw: string, label: string): URL {
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      throw new ReconError('PROVIDER', `the provider's download URL for ${label} is not a URL`);
    }
    const httpAllowed = this.config.allowHttpDownload || LOOPBACK.test(url.hostname);
    if (url.protocol !== 'https:' && !(url.protocol === 'http:' && httpAllowed)) {
      throw new ReconError('PROVIDER', `refusing to download ${label} over ${url.protocol} (only https; plain http only for a loopback sandbox or YZH_ALLOW_HTTP_DOWNLOAD=true)`);
    }
    return url;
  }

  private async downloadOnce(rawUrl: string, path: string, label: string, signal?: AbortSignal, onBytes?: (bytes: number) => void): Promise<DownloadResult> {
    let url = this.checkDownloadUrl(rawUrl, label);
    for (let redirects = 0; ; redirects++) {
      let response;
      try {
        response = await request(url, { method: 'GET', dispatcher: this.agent, signal });
      } catch (err) {
        throw this.transportError(err, `download ${label}`, { host: url.host }, signal);
      }
      const { statusCode } = response;
      if (statusCode >= 300 && statusCode < 400) {
        await response.body.dump();
        const location = response.headers.location;
        if (redirects >= MAX_REDIRECTS || typeof location !== 'string') {
          throw new ReconError('PROVIDER', `download ${label}: too many redirects or a redirect without Location`);
        }
        url = this.checkDownloadUrl(new URL(location, url).toString(), label);
        continue;
      }
      if (statusCode >= 500 || statusCode === 429) {
        await response.body.dump();
        throw new TransientError(`download ${label} answered HTTP ${statusCode}`, { facts: { httpStatus: statusCode } });
      }
      if (statusCode !== 200) {
        await response.body.dump();
        throw new ReconError('PROVIDER', `download ${label} answered HTTP ${statusCode}`, { facts: { httpStatus: statusCode } });
      }
      const declared = Number(response.headers['content-length'] ?? NaN);
      if (declared > this.config.maxDownloadBytes) {
        await response.body.dump();
        throw new ReconError('PROVIDER', `download ${label} is ${declared} bytes, over YZH_MAX_DOWNLOAD_BYTES (${this.config.maxDownloadBytes})`);
      }
      const hash = createHash('sha256');
      let bytes = 0;
      const max = this.config.maxDownloadBytes;
      const meter = new Transform({
        transform(chunk: Buffer, _enc, done) {
          bytes += chunk.length;
          if (bytes > max) {
            done(new ReconError('PROVIDER', `download ${label} exceeded YZH_MAX_DOWNLOAD_BYTES (${max})`));
            return;
          }
          hash.update(chunk);
          onBytes?.(bytes);
          done(null, chunk);
        },
      });
      const file = createWriteStream(path);
      let fileFailure: unknown = null;
      file.on('error', (err) => { fileFailure ??= err; });
      try {
        await pipeline(response.body, meter, file, signal ? { signal } : {});
      } catch (err) {
        if (err instanceof ReconError) throw err;
        // The local file failing (a full YZH_TMP_DIR) is no transport fault: retrying would not help.
        if (fileFailure !== null && !signal?.aborted) throw fileError(fileFailure, `download ${label}: writing ${path}`);
        throw this.transportError(err, `download ${label} after ${bytes} bytes`, {}, signal);
      }
      const lastModified = response.headers['last-modified'];
      return {
        path,
        sha256: hash.digest('hex'),
        bytes,
        lastModified: typeof lastModified === 'string' ? new Date(lastModified) : null,
      };
    }
  }

  private transportError(err: unknown, what: string, facts: Record<string, string>, signal?: AbortSignal): ReconError {
    if (signal?.aborted) return new ReconError('INTERRUPTED', `${what}: interrupted`, { cause: err });
    const timedOut =
      err instanceof undiciErrors.HeadersTimeoutError ||
      err instanceof undiciErrors.BodyTimeoutError ||
      err instanceof undiciErrors.ConnectTimeoutError;
    const reason = timedOut ? `timed out after ${this.config.timeoutMs} ms` : (err as Error).message;
    return new TransientError(`${what}: ${reason}`, { cause: err, facts });
  }
}
