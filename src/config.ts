import { tmpdir } from 'node:os';
import { ReconError } from './errors.js';
import { parseNotifyConfig, type NotifyConfig } from './recon/notify/targets.js';

export interface ProviderConfig {
  readonly baseUrl: string;
  readonly dealerId: string;
  readonly appKey: string;
  readonly des3Key: string;
  readonly timeoutMs: number;
  readonly retries: number;
  readonly maxDownloadBytes: number;
  /** Plain-http download URLs are refused unless the host is loopback or this is set. */
  readonly allowHttpDownload: boolean;
}

/** The live follow-up of unsettled orders (query-realtime-order) inside each run. */
export interface FollowUpConfig {
  /** Calls under way at once. */
  readonly concurrency: number;
  /** Orders asked per run at most, least recently asked first. */
  readonly max: number;
  /**
   * A run does not ask again about an order answered within this many hours, unless a file
   * ingested since says something newer or a later call went unanswered: the three runs a day
   * would otherwise ask the whole backlog of open findings each time and get the same answers.
   */
  readonly reaskAfterHours?: number;
  /**
   * The whole follow-up's time inside a run, in ms (YZH_FOLLOWUP_BUDGET_MS): no call starts
   * after it and calls under way are cut; what was not asked waits for the next run.
   */
  readonly budgetMs?: number;
}

export const DEFAULT_FOLLOW_UP: FollowUpConfig = Object.freeze({ concurrency: 4, max: 500, reaskAfterHours: 20, budgetMs: 120_000 });
/** YZH_FOLLOWUP_BUDGET_MS's bounds: a second, and an hour (the run holds its transaction and lock meanwhile). */
export const FOLLOW_UP_BUDGET_MS = { min: 1000, max: 3_600_000 } as const;

export interface Config {
  readonly databaseUrl: string | undefined;
  readonly pgliteDir: string;
  readonly provider: ProviderConfig;
  readonly logLevel: string;
  readonly lockTimeoutMs: number;
  readonly pushgatewayUrl: string | undefined;
  readonly tmpDir: string;
  readonly followUp: FollowUpConfig;
  /** Where `run` writes the finance page after each day (YZH_REPORT_DIR); unset: not written. */
  readonly reportDir: string | undefined;
  /** Where every downloaded file is kept verbatim (src/provider/file-archive.ts). */
  readonly archiveDir: string;
  /** Archive objects of business days older than this many days are pruned; null keeps them forever. */
  readonly archiveRetainDays: number | null;
  /** Provider rows of business days older than this many days are dropped (YZH_RETAIN_DAYS). */
  readonly retainDays: number;
  /** How many days either side of a day a repeated 商户订单号 is searched (YZH_DUPLICATE_WINDOW_DAYS). */
  readonly duplicateWindowDays: number;
  /** Chat webhooks told after each run (YZH_NOTIFY_URLS, _SECRETS, _ON, YZH_REPORT_URL). */
  readonly notify: NotifyConfig;
}

/**
 * The provider serves a day's files for 90 days; rows are kept a month beyond that, so that a
 * 退汇 or a correction arriving after the provider stopped serving the order's day still finds
 * its order (docs/design.md, "Provider rows by day, and retention").
 */
export const DEFAULT_RETAIN_DAYS = 120;
export const DEFAULT_DUPLICATE_WINDOW_DAYS = 7;

/** What YZH_DEALER_ID may be (contract section 2). */
export const DEALER_ID = /^[A-Za-z0-9_-]{1,64}$/;

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/**
 * Reads and validates the environment once. Every problem is collected and reported in one
 * message; values of keys are never echoed. `requireProvider` is set by the commands that talk
 * to the provider (`run`, `check`), so that `migrate` and `report` work without credentials.
 */
export function loadConfig(
  env: NodeJS.ProcessEnv,
  options: { requireProvider: boolean } = { requireProvider: false },
): Config {
  const problems: string[] = [];
  const get = (name: string): string | undefined => {
    const value = env[name];
    return value === undefined || value.trim() === '' ? undefined : value.trim();
  };
  const positiveInt = (name: string, fallback: number): number => {
    const raw = get(name);
    if (raw === undefined) return fallback;
    if (!/^\d+$/.test(raw) || Number(raw) <= 0) {
      problems.push(`${name} must be a positive whole number, got "${raw}"`);
      return fallback;
    }
    return Number(raw);
  };
  const wholeNumber = (name: string, fallback: number): number => {
    const raw = get(name);
    if (raw === undefined) return fallback;
    if (!/^\d+$/.test(raw) || !Number.isSafeInteger(Number(raw))) {
      problems.push(`${name} must be a whole number (0 or more), got "${raw}"`);
      return fallback;
    }
    return Number(raw);
  };
  /**
   * A count or size bounded both ways (contract section 2): a huge value would otherwise fail
   * far from here, in date arithmetic or as a database range error naming no setting.
   */
  const bounded = (name: string, fallback: number, min: number, max: number): number => {
    const raw = get(name);
    if (raw === undefined) return fallback;
    if (!/^\d{1,15}$/.test(raw) || Number(raw) < min || Number(raw) > max) {
      problems.push(`${name} must be a whole number from ${min} to ${max}, got "${raw}"`);
      return fallback;
    }
    return Number(raw);
  };
  const required = (name: string): string => {
    const value = get(name);
    if (value === undefined && options.requireProvider) problems.push(`${name} is required`);
    return value ?? '';
  };

  const baseUrl = get('YZH_BASE_URL') ?? 'https://api-jiesuan.yunzhanghu.com';
  try {
    const url = new URL(baseUrl);
    if (url.protocol !== 'https:' && url.protocol !== 'http:') {
      problems.push(`YZH_BASE_URL must be an http(s) URL, got "${baseUrl}"`);
    }
  } catch {
    problems.push(`YZH_BASE_URL is not a URL: "${baseUrl}"`);
  }

  const dealerId = required('YZH_DEALER_ID');
  // It names folders, files and locks: nothing that a path or a shell could read otherwise.
  if (dealerId !== '' && !DEALER_ID.test(dealerId)) {
    problems.push(`YZH_DEALER_ID must be 1 to 64 of A-Z a-z 0-9 _ -, got "${dealerId}"`);
  }
  const appKey = required('YZH_APP_KEY');
  const des3Key = required('YZH_DES3_KEY');
  if (des3Key !== '' && Buffer.byteLength(des3Key, 'utf8') !== 24) {
    problems.push(`YZH_DES3_KEY must be exactly 24 bytes, it has ${Buffer.byteLength(des3Key, 'utf8')}`);
  }

  const databaseUrl = get('DATABASE_URL');
  if (databaseUrl !== undefined && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    problems.push('DATABASE_URL must start with postgres:// or postgresql://');
  }

  const logLevel = get('LOG_LEVEL') ?? 'info';
  if (!LOG_LEVELS.includes(logLevel)) {
    problems.push(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, got "${logLevel}"`);
  }

  const pushgatewayUrl = get('PUSHGATEWAY_URL');
  if (pushgatewayUrl !== undefined && !/^https?:\/\//.test(pushgatewayUrl)) {
    problems.push(`PUSHGATEWAY_URL must be an http(s) URL, got "${pushgatewayUrl}"`);
  }

  const config: Config = {
    databaseUrl,
    pgliteDir: get('PGLITE_DIR') ?? '.yzh-recon/pglite',
    provider: Object.freeze({
      baseUrl: baseUrl.replace(/\/+$/, ''),
      dealerId,
      appKey,
      des3Key,
      // From a tenth of a second (a test's sandbox) to ten minutes (a slow link, one request).
      timeoutMs: bounded('YZH_TIMEOUT_MS', 30_000, 100, 600_000),
      // 0 is a fair setting: one attempt, no retries (a caller that retries the whole job itself).
      retries: wholeNumber('YZH_RETRIES', 4),
      maxDownloadBytes: positiveInt('YZH_MAX_DOWNLOAD_BYTES', 4 * 1024 ** 3),
      allowHttpDownload: get('YZH_ALLOW_HTTP_DOWNLOAD') === 'true',
    }),
    logLevel,
    lockTimeoutMs: positiveInt('YZH_LOCK_TIMEOUT_MS', 60_000),
    pushgatewayUrl,
    tmpDir: get('YZH_TMP_DIR') ?? tmpdir(),
    followUp: Object.freeze({
      concurrency: bounded('YZH_FOLLOWUP_CONCURRENCY', DEFAULT_FOLLOW_UP.concurrency, 1, 100),
      max: bounded('YZH_FOLLOWUP_MAX', DEFAULT_FOLLOW_UP.max, 1, 100_000),
      reaskAfterHours: wholeNumber('YZH_FOLLOWUP_REASK_HOURS', DEFAULT_FOLLOW_UP.reaskAfterHours!),
      budgetMs: bounded('YZH_FOLLOWUP_BUDGET_MS', DEFAULT_FOLLOW_UP.budgetMs!, FOLLOW_UP_BUDGET_MS.min, FOLLOW_UP_BUDGET_MS.max),
    }),
    reportDir: get('YZH_REPORT_DIR'),
    archiveDir: get('YZH_ARCHIVE_DIR') ?? '.yzh-recon/archive',
    archiveRetainDays: get('YZH_ARCHIVE_RETAIN_DAYS') === undefined ? null : bounded('YZH_ARCHIVE_RETAIN_DAYS', 1, 1, 3650),
    retainDays: bounded('YZH_RETAIN_DAYS', DEFAULT_RETAIN_DAYS, 1, 3650),
    duplicateWindowDays: bounded('YZH_DUPLICATE_WINDOW_DAYS', DEFAULT_DUPLICATE_WINDOW_DAYS, 0, 90),
    notify: parseNotifyConfig(get, problems),
  };

  if (problems.length > 0) {
    throw new ReconError('CONFIG', `configuration: ${problems.join('; ')}`);
  }
  return Object.freeze(config);
}
