import { createHmac } from 'node:crypto';
import type { Logger } from '../../logger.js';
import { messageJson, messageMarkdown, messageTitle, type RunFacts } from './message.js';
import type { NotifyTarget } from './targets.js';

/**
 * One message per webhook, in that service's own format and signature:
 *
 * - 企业微信 group robot: POST {"msgtype":"markdown","markdown":{"content":…}}; answers {"errcode":0}.
 * - 钉钉 custom robot: POST {"msgtype":"markdown","markdown":{"title","text"}}; with 加签,
 *   `&timestamp=<ms>&sign=<urlencoded base64 HMAC-SHA256(key=secret, timestamp+"\n"+secret)>`
 *   on the URL; answers {"errcode":0}.
 * - 飞书 custom bot: POST {"msg_type":"interactive","card":…}; with 签名校验, body fields
 *   timestamp (seconds) and sign = base64 HMAC-SHA256(key=timestamp+"\n"+secret, empty message);
 *   answers {"code":0} (older bots {"StatusCode":0}).
 * - anything else: POST the run summary as JSON (messageJson); with a secret, headers
 *   X-Yzh-Timestamp (ms) and X-Yzh-Signature: sha256=hex HMAC-SHA256(key=secret, timestamp+"\n"+body).
 *
 * All webhooks are sent to at once, each tried up to three times (network errors, timeouts,
 * 429 and 5xx) within one deadline for them all; sending never throws.
 */

export interface SendOptions {
  /** The whole sending's deadline (all webhooks, all tries). */
  budgetMs: number;
  /** One try's timeout. */
  attemptMs: number;
  now?: () => number;
}

export const DEFAULT_SEND: SendOptions = { budgetMs: 5_000, attemptMs: 2_000 };
const BACKOFF_MS = [250, 750];

export interface SendAnswer {
  label: string;
  ok: boolean;
  /** What the service said, in a few words (HTTP status and its code/message), or why nothing came. */
  detail: string;
  attempts: number;
}

interface Request {
  url: string;
  headers: Record<string, string>;
  body: string;
}

const hmac = (key: string, data: string) => createHmac('sha256', key).update(data, 'utf8').digest();

export function buildRequest(target: NotifyTarget, facts: RunFacts, nowMs: number): Request {
  const headers: Record<string, string> = { 'content-type': 'application/json; charset=utf-8' };
  const markdown = messageMarkdown(facts);
  const title = messageTitle(facts);
  switch (target.kind) {
    case 'wecom':
      // 4096 bytes is the robot's limit for markdown content.
      return { url: target.url, headers, body: JSON.stringify({ msgtype: 'markdown', markdown: { content: clipBytes(markdown, 4000) } }) };
    case 'dingtalk': {
      const url = new URL(target.url);
      if (target.secret !== '') {
        const timestamp = String(nowMs);
        url.searchParams.set('timestamp', timestamp);
        url.searchParams.set('sign', hmac(target.secret, `${timestamp}\n${target.secret}`).toString('base64'));
      }
      return { url: url.toString(), headers, body: JSON.stringify({ msgtype: 'markdown', markdown: { title, text: markdown } }) };
    }
    case 'feishu': {
      const card = {
        header: { title: { tag: 'plain_text', content: title }, template: facts.outcome === 'failed' ? 'red' : facts.outcome === 'test' ? 'blue' : (facts.openCritical ?? 0) > 0 ? 'orange' : 'green' },
        elements: [{ tag: 'markdown', content: markdown.split('\n').slice(1).join('\n') }],
      };
      const signed: Record<string, string> = {};
      if (target.secret !== '') {
        const timestamp = String(Math.floor(nowMs / 1000));
        signed.timestamp = timestamp;
        signed.sign = hmac(`${timestamp}\n${target.secret}`, '').toString('base64');
      }
      return { url: target.url, headers, body: JSON.stringify({ ...signed, msg_type: 'interactive', card }) };
    }
    case 'json': {
      const body = JSON.stringify(messageJson(facts));
      if (target.secret !== '') {
        const timestamp = String(nowMs);
        headers['x-yzh-timestamp'] = timestamp;
        headers['x-yzh-signature'] = `sha256=${hmac(target.secret, `${timestamp}\n${body}`).toString('hex')}`;
      }
      return { url: target.url, headers, body };
    }
  }
}

function clipBytes(text: string, max: number): string {
  if (Buffer.byteLength(text) <= max) return text;
  let out = text;
  while (Buffer.byteLength(out) > max - 3) out = out.slice(0, -1);
  return `${out}…`;
}

/** Whether the service took the message, from its answer. */
function accepted(target: NotifyTarget, status: number, text: string): { ok: boolean; detail: string; retry: boolean } {
  const head = `HTTP ${status}`;
  if (status === 429 || status >= 500) return { ok: false, detail: head, retry: true };
  if (status < 200 || status >= 300) return { ok: false, detail: head, retry: false };
  if (target.kind === 'json') return { ok: true, detail: head, retry: false };
  let answer: Record<string, unknown>;
  try {
    answer = JSON.parse(text) as Record<string, unknown>;
  } catch {
    return { ok: false, detail: `${head}, not a JSON answer`, retry: false };
  }
  const codeValue = answer.errcode ?? answer.code ?? answer.StatusCode;
  const message = answer.errmsg ?? answer.msg ?? answer.StatusMessage;
  const said = `${head}, code ${JSON.stringify(codeValue ?? null)}${typeof message === 'string' && message !== '' ? ` ${JSON.stringify(message.slice(0, 120))}` : ''}`;
  // 企业微信 45009 and 钉钉 130101 are their rate limits: worth another try.
  return { ok: codeValue === 0, detail: said, retry: codeValue === 45009 || codeValue === 130101 };
}

async function sendOne(target: NotifyTarget, facts: RunFacts, deadline: AbortSignal, options: SendOptions): Promise<SendAnswer> {
  const now = options.now ?? Date.now;
  let detail = 'not sent';
  for (let attempt = 1; attempt <= BACKOFF_MS.length + 1; attempt++) {
    if (deadline.aborted) return { label: target.label, ok: false, detail: `${detail}; gave up at the deadline`, attempts: attempt - 1 };
    const req = buildRequest(target, facts, now());
    let retry: boolean;
    try {
      const res = await fetch(req.url, {
        method: 'POST', headers: req.headers, body: req.body, redirect: 'error',
        signal: AbortSignal.any([deadline, AbortSignal.timeout(options.attemptMs)]),
      });
      const text = (await res.text()).slice(0, 2000);
      const verdict = accepted(target, res.status, text);
      if (verdict.ok) return { label: target.label, ok: true, detail: verdict.detail, attempts: attempt };
      detail = verdict.detail;
      retry = verdict.retry;
    } catch (err) {
      // Never the error's own text: undici puts the URL, with its key, in some of them.
      const name = (err as Error).name;
      const cause = (err as { cause?: { code?: string } }).cause?.code;
      detail = name === 'TimeoutError' || name === 'AbortError' ? 'no answer in time' : `no connection${cause === undefined ? '' : ` (${cause})`}`;
      retry = true;
    }
    if (!retry || attempt > BACKOFF_MS.length) return { label: target.label, ok: false, detail, attempts: attempt };
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, BACKOFF_MS[attempt - 1]);
      deadline.addEventListener('abort', () => { clearTimeout(timer); resolve(); }, { once: true });
    });
  }
  return { label: target.label, ok: false, detail, attempts: BACKOFF_MS.length + 1 };
}

/** Sends the message to every webhook at once; resolves within the budget, never rejects. */
export async function sendAll(targets: readonly NotifyTarget[], facts: RunFacts, log: Logger, options: SendOptions = DEFAULT_SEND): Promise<SendAnswer[]> {
  if (targets.length === 0) return [];
  const deadline = AbortSignal.timeout(options.budgetMs);
  const answers = await Promise.all(targets.map((t) => sendOne(t, facts, deadline, options).catch((): SendAnswer => ({ label: t.label, ok: false, detail: 'could not send', attempts: 0 }))));
  for (const a of answers) {
    if (a.ok) log.info({ webhook: a.label, answer: a.detail, attempts: a.attempts }, 'chat message sent');
    else log.warn({ webhook: a.label, answer: a.detail, attempts: a.attempts }, 'chat message not delivered');
  }
  return answers;
}
