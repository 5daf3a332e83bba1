import { ReconError } from '../errors.js';
import { reportLink, type RunFacts } from '../recon/notify/message.js';
import { sendAll } from '../recon/notify/send.js';
import { yesterdayInShanghai } from './business-date.js';
import { parseCommandArgs } from './args.js';
import type { CommandContext } from './context.js';

export const NOTIFY_USAGE = `usage: yzh-recon notify --test

Sends a test message to every chat webhook in YZH_NOTIFY_URLS (企业微信 group robot, 钉钉 custom
robot, 飞书 custom bot, recognised by their host or a wecom+ / dingtalk+ / feishu+ / json+ prefix;
anything else gets a JSON POST), signed with YZH_NOTIFY_SECRETS where given, and prints each
webhook's answer. Webhooks are named by their place, service and host; never by their key.
Exit status: 0 every webhook took the message, 1 one did not, 2 usage error (none configured).`;

export async function notifyCommand(ctx: CommandContext, argv: string[]): Promise<number> {
  const { values } = parseCommandArgs({ name: 'notify', usage: NOTIFY_USAGE, options: { test: { type: 'boolean' } } }, argv);
  if (values.help) {
    ctx.stdout.write(`${NOTIFY_USAGE}\n`);
    return 0;
  }
  if (values.test !== true) throw new ReconError('USAGE', `notify: --test is required\n${NOTIFY_USAGE}`);
  const config = ctx.config();
  if (config.notify.targets.length === 0) throw new ReconError('USAGE', 'notify: YZH_NOTIFY_URLS is not set: no webhook to test');
  const date = yesterdayInShanghai();
  const facts: RunFacts = {
    dealerId: config.provider.dealerId || '-', date, outcome: 'test', runId: null, error: null, durationSeconds: null,
    opened: null, newCritical: null, openCritical: null, atRisk: null, largest: [], reportUrl: reportLink(config.notify.reportUrl, date),
  };
  const answers = await sendAll(config.notify.targets, facts, ctx.log);
  for (const a of answers) ctx.stdout.write(`${a.label}: ${a.ok ? 'ok' : 'NOT DELIVERED'} (${a.detail}${a.attempts > 1 ? `, ${a.attempts} tries` : ''})\n`);
  return answers.every((a) => a.ok) ? 0 : 1;
}
