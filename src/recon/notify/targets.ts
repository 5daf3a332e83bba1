/**
 * The chat webhooks told after each run, from the environment:
 *
 * - YZH_NOTIFY_URLS: comma-separated webhook URLs. The service is recognised by the URL's host:
 *   qyapi.weixin.qq.com (企业微信 group robot), oapi.dingtalk.com (钉钉 custom robot),
 *   open.feishu.cn / open.larksuite.com (飞书 / Lark custom bot); any other host gets a plain
 *   JSON POST of the run summary. A prefix `wecom+`, `dingtalk+`, `feishu+` or `json+` before
 *   the scheme names the service explicitly (`feishu+http://127.0.0.1:8080/hook/x`), for a
 *   relay or proxy in front of the service, and for tests against a local receiver.
 * - YZH_NOTIFY_SECRETS: the signing secrets (加签) in the same order, comma-separated; an empty
 *   entry for a webhook without one.
 * - YZH_NOTIFY_ON: always | findings (default: a failed run or one that opened findings) |
 *   critical (a failed run or one that opened critical findings).
 * - YZH_REPORT_URL: the finance page's address, `{date}` replaced by the day; a link in each message.
 *
 * A webhook URL carries its credential (key=, access_token=, the 飞书 hook id): no message,
 * log line or error ever shows more of it than the service and the host.
 */

export type NotifyKind = 'wecom' | 'dingtalk' | 'feishu' | 'json';
export type NotifyOn = 'always' | 'findings' | 'critical';

export interface NotifyTarget {
  kind: NotifyKind;
  url: string;
  secret: string;
  /** What logs and answers name it by: its place in the list, the service and the host. */
  label: string;
}

export interface NotifyConfig {
  readonly targets: readonly NotifyTarget[];
  readonly on: NotifyOn;
  readonly reportUrl: string | undefined;
}

export const KIND_NAMES: Record<NotifyKind, string> = { wecom: '企业微信', dingtalk: '钉钉', feishu: '飞书', json: 'JSON' };

const HOSTS: [RegExp, NotifyKind][] = [
  [/^qyapi\.weixin\.qq\.com$/i, 'wecom'],
  [/^oapi\.dingtalk\.com$/i, 'dingtalk'],
  [/^open\.(feishu\.cn|larksuite\.com)$/i, 'feishu'],
];

/** The service a webhook URL is for: an explicit prefix, else its host. */
export function parseTarget(raw: string, secret: string, place: number): NotifyTarget | string {
  const m = /^(wecom|dingtalk|feishu|json)\+(.*)$/i.exec(raw);
  const text = m === null ? raw : m[2]!;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return `YZH_NOTIFY_URLS entry ${place} is not a URL`;
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return `YZH_NOTIFY_URLS entry ${place} must be an http(s) URL`;
  const kind = m !== null ? (m[1]!.toLowerCase() as NotifyKind) : HOSTS.find(([re]) => re.test(url.hostname))?.[1] ?? 'json';
  return { kind, url: url.toString(), secret, label: `webhook ${place} (${KIND_NAMES[kind]}, ${url.host})` };
}

export function parseNotifyConfig(get: (name: string) => string | undefined, problems: string[]): NotifyConfig {
  const urls = (get('YZH_NOTIFY_URLS') ?? '').split(',').map((u) => u.trim()).filter((u) => u !== '');
  const secrets = (get('YZH_NOTIFY_SECRETS') ?? '').split(',').map((s) => s.trim());
  if (urls.length > 0 && secrets.filter((s) => s !== '').length > 0 && secrets.length > urls.length) {
    problems.push(`YZH_NOTIFY_SECRETS has ${secrets.length} entries for ${urls.length} webhook${urls.length === 1 ? '' : 's'} in YZH_NOTIFY_URLS`);
  }
  if (urls.length > 20) problems.push(`YZH_NOTIFY_URLS has ${urls.length} webhooks; at most 20`);
  const targets: NotifyTarget[] = [];
  urls.slice(0, 20).forEach((raw, i) => {
    const t = parseTarget(raw, secrets[i] ?? '', i + 1);
    if (typeof t === 'string') problems.push(t);
    else targets.push(t);
  });
  const on = (get('YZH_NOTIFY_ON') ?? 'findings').toLowerCase();
  if (on !== 'always' && on !== 'findings' && on !== 'critical') problems.push(`YZH_NOTIFY_ON must be always, findings or critical, got "${on}"`);
  const reportUrl = get('YZH_REPORT_URL');
  if (reportUrl !== undefined && !/^https?:\/\//.test(reportUrl)) problems.push('YZH_REPORT_URL must be an http(s) URL');
  return Object.freeze({ targets: Object.freeze(targets), on: on as NotifyOn, reportUrl });
}
