import { createHash, randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Agent, errors as undiciErrors, request } from 'undici';
import type { ProviderConfig } from '../config.js';
import { ReconError } from '../errors.js';
import type { Logger } from '../logger.js';
import { encrypt3des, randomMess, sign } from './crypto.js';
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
    const data = await this.call<Record<string, string>>(path, payload, signal);
    const url = data[kind === 'order' ? 'order_download_url' : 'bill_download_url'];
    if (url === undefined || url === '') {
      throw new ReconError(
        'PROVIDER',
        `the provider returned no download URL for the ${kind} file of ${date}: files are kept 90 days, this one is past retention`,
        { facts: { kind, date, reason: 'expired' } },
      );
    }
    return url;
  }

  async queryOrder(orderId: string, channel: Channel, signal?: AbortSignal): Promise<RealtimeOrder> {
    return this.call<RealtimeOrder>(ENDPOINTS.queryOrder, { order_id: orderId, channel: CHANNEL_NAMES[channel], data_type: '' }, signal);
  }

  async queryAccounts(signal?: AbortSignal): Promise<DealerAccount[]> {
    const data = await this.call<{ dealer_infos: DealerAccount[] }>(ENDPOINTS.queryAccounts, { dealer_id: this.config.dealerId }, signal);
    return data.dealer_infos;
  }

  /** One signed API call, retried on transient failures; returns the envelope's `data`. */
  async call<T>(path: string, payload: object, signal?: AbortSignal): Promise<T> {
    return withRetries(`GET ${path}`, this.retry, this.log, () => this.callOnce<T>(path, payload, signal), signal);
  }

  private async callOnce<T>(path: string, payload: object, signal?: AbortSignal): Promise<T> {
    const requestId = randomUUID();
    const data = encrypt3des(JSON.stringify(payload), this.config.des3Key);
    const mess = randomMess();
    const timestamp = String(Math.floor(Date.now() / 1000));
    const query = new URLSearchParams({
      data, mess, timestamp, sign: sign(data, mess, timestamp, this.config.appKey), sign_type: 'sha256',
    });
    const started = performance.now();
    const facts = { endpoint: path, requestId };
    let statusCode: number;
    let text: string;
    try {
      const response = await request(`${this.config.baseUrl}${path}?${query.toString()}`, {
        method: 'GET',
        dispatcher: this.agent,
        headers: { 'dealer-id': this.config.dealerId, 'request-id': requestId, accept: 'application/json' },
        signal,
      });
      statusCode = response.statusCode;
      const date = response.headers.date;
      if (typeof date === 'string' && !Number.isNaN(Date.parse(date))) this.lastServerDate = new Date(date);
      text = await response.body.text();
    } catch (err) {
      throw this.transportError(err, `GET ${path}`, facts, signal);
    }
    this.log.debug({ ...facts, status: statusCode, ms: Math.round(performance.now() - started) }, 'provider call');
    if (statusCode >= 500 || statusCode === 429) {
      throw new TransientError(`GET ${path} answered HTTP ${statusCode} (request_id ${requestId})`, { facts: { ...facts, httpStatus: statusCode } });
    }
    let envelope: ProviderEnvelope<T>;
    try {
      envelope = JSON.parse(text) as ProviderEnvelope<T>;
    } catch {
      throw new ReconError('PROVIDER', `GET ${path} answered HTTP ${statusCode} with a body that is not JSON (request_id ${requestId})`, { facts });
    }
    const providerRequestId = envelope.request_id ?? requestId;
    if (envelope.code !== SUCCESS_CODE) {
      const advice = PROVIDER_CODES[envelope.code] ?? 'see the provider document\'s error table';
      throw new ReconError(
        'PROVIDER',
        `provider code ${envelope.code} (${envelope.message}) on GET ${path}: ${advice} [request_id ${providerRequestId}]`,
        { facts: { ...facts, providerCode: envelope.code, requestId: providerRequestId } },
      );
    }
    if (envelope.data === undefined) {
      throw new ReconError('PROVIDER', `GET ${path} answered 0000 without data [request_id ${providerRequestId}]`, { facts });
    }
    return envelope.data;
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
      try {
        await pipeline(response.body, meter, createWriteStream(path), signal ? { signal } : {});
      } catch (err) {
        if (err instanceof ReconError) throw err;
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
