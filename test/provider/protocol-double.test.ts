import { createCipheriv, createDecipheriv, createHmac } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { ProviderClient } from '../../src/provider/client.js';
import { silentLog } from '../helpers/provider.js';

/**
 * An independent double of the provider, written from the document (v1.3.18, 2.1 items 4 and
 * 6, and the signing and encryption rules of its chapter 1) with Node's crypto alone: none of
 * the project's own crypto, protocol constants or sandbox. It answers only a request that is
 * exactly what the document describes, and records every violation it sees.
 */
const DEALER = 'sixcn';
const APP_KEY = '78f9b4fad3481fbce1df0b30eee58577';
const DES3_KEY = '123456788765432112345678';

const des3 = (decipher: boolean, input: string): string => {
  const key = Buffer.from(DES3_KEY);
  const iv = key.subarray(0, 8);
  if (decipher) {
    const d = createDecipheriv('des-ede3-cbc', key, iv);
    return Buffer.concat([d.update(Buffer.from(input, 'base64')), d.final()]).toString('utf8');
  }
  const c = createCipheriv('des-ede3-cbc', key, iv);
  return Buffer.concat([c.update(input, 'utf8'), c.final()]).toString('base64');
};

interface Seen {
  path: string;
  requestId: string;
  payload: Record<string, unknown>;
}

const seen: Seen[] = [];
const violations: string[] = [];
let server: Server;
let baseUrl = '';

function check(req: IncomingMessage): Seen | null {
  const url = new URL(req.url ?? '/', 'http://double');
  const problems: string[] = [];
  if (req.method !== 'GET') problems.push(`method ${req.method}`);
  if (req.headers['dealer-id'] !== DEALER) problems.push('dealer-id header');
  const requestId = req.headers['request-id'];
  if (typeof requestId !== 'string' || requestId === '') problems.push('request-id header');
  const names = [...url.searchParams.keys()].sort();
  if (names.join(',') !== 'data,mess,sign,sign_type,timestamp') problems.push(`parameters ${names.join(',')}`);
  const data = url.searchParams.get('data') ?? '';
  const mess = url.searchParams.get('mess') ?? '';
  const timestamp = url.searchParams.get('timestamp') ?? '';
  if (url.searchParams.get('sign_type') !== 'sha256') problems.push('sign_type');
  // The document: Unix time in seconds.
  if (!/^\d{10}$/.test(timestamp) || Math.abs(Number(timestamp) - Date.now() / 1000) > 300) problems.push(`timestamp ${timestamp}`);
  const expected = createHmac('sha256', APP_KEY).update(`data=${data}&mess=${mess}&timestamp=${timestamp}&key=${APP_KEY}`).digest('hex');
  if (url.searchParams.get('sign') !== expected) problems.push('signature');
  let payload: Record<string, unknown> = {};
  try {
    payload = JSON.parse(des3(true, data)) as Record<string, unknown>;
  } catch {
    problems.push('data does not decrypt');
  }
  if (problems.length > 0) {
    violations.push(`${url.pathname}: ${problems.join('; ')}`);
    return null;
  }
  return { path: url.pathname.replace(/\/$/, ''), requestId: requestId as string, payload };
}

function answer(s: Seen): { code: string; message: string; data?: unknown } {
  if (s.path === '/api/payment/v1/query-realtime-order') {
    const keys = Object.keys(s.payload).sort().join(',');
    if (keys !== 'channel,data_type,order_id') violations.push(`query-realtime-order payload ${keys}`);
    if (!['银行卡', '支付宝', '微信'].includes(s.payload.channel as string)) violations.push(`channel ${String(s.payload.channel)}`);
    if (s.payload.order_id === 'nope') return { code: '2018', message: '该笔订单不存在' };
    const order = {
      pay: '100.00', broker_id: 'yunyi', dealer_id: DEALER, order_id: s.payload.order_id, ref: '79822056820047883',
      status: 1, status_detail: 27, status_message: '已打款', status_detail_message: '微信红包待领取', sys_amount: '100.00',
      real_name: '测试', card_no: '6228021232235288058', id_card: '120101198812142146', phone_no: '18601318616',
      created_at: '2017-10-16 20:58:29', finished_time: '2017-10-16 20:58:30',
    };
    return s.payload.data_type === 'encryption'
      ? { code: '0000', message: '操作成功', data: { encry_data: des3(false, JSON.stringify(order)) } }
      : { code: '0000', message: '操作成功', data: order };
  }
  if (s.path === '/api/payment/v1/query-accounts') {
    if (Object.keys(s.payload).join(',') !== 'dealer_id' || s.payload.dealer_id !== DEALER) violations.push('query-accounts payload');
    return {
      code: '0000', message: '操作成功',
      data: { dealer_infos: [{ broker_id: 'yiyun73', bank_card_balance: '997.84', is_bank_card: true, alipay_balance: '0', is_alipay: false, wxpay_balance: '997.84', is_wxpay: false, rebate_fee_balance: '0.00' }] },
    };
  }
  violations.push(`unknown path ${s.path}`);
  return { code: '1002', message: '请求参数格式不正确' };
}

beforeAll(async () => {
  server = createServer((req, res) => {
    const s = check(req);
    const body = s === null ? { code: '1003', message: '签名错误' } : (seen.push(s), answer(s));
    res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' });
    res.end(JSON.stringify({ ...body, request_id: req.headers['request-id'] ?? '' }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

describe('the follow-up and balance calls against an independent double of the provider', () => {
  it('signed GETs with the document\'s parameter names, a fresh request id each, encry_data read back', async () => {
    const client = new ProviderClient(loadConfig({
      YZH_BASE_URL: baseUrl, YZH_DEALER_ID: DEALER, YZH_APP_KEY: APP_KEY, YZH_DES3_KEY: DES3_KEY,
    }, { requireProvider: true }).provider, silentLog);
    try {
      const answers = await Promise.all([
        client.askOrder('201609010016562012999', 'wxpay'),
        client.askOrder('201609010016562012998', 'bankcard'),
        client.askOrder('201609010016562012997', 'alipay'),
        client.askOrder('nope', 'bankcard'),
      ]);
      const balances = await client.accounts();

      expect(violations).toEqual([]);
      expect(answers[0]).toMatchObject({ code: '0000', order: { order_id: '201609010016562012999', status: 1, status_detail: 27, pay: '100.00' } });
      expect(answers[3]).toMatchObject({ code: '2018', order: null });
      expect(balances.accounts[0]).toMatchObject({ broker_id: 'yiyun73', bank_card_balance: '997.84' });
      expect(seen.map((s) => s.path)).toEqual([
        ...Array<string>(4).fill('/api/payment/v1/query-realtime-order'), '/api/payment/v1/query-accounts',
      ]);
      expect(seen.filter((s) => s.path.endsWith('query-realtime-order')).map((s) => s.payload.channel).sort())
        .toEqual(['微信', '支付宝', '银行卡', '银行卡'].sort());
      expect(seen.every((s) => s.path.endsWith('query-accounts') || s.payload.data_type === 'encryption')).toBe(true);
      // Fresh request ids, each echoed back as the answer's request id.
      expect(new Set(seen.map((s) => s.requestId)).size).toBe(seen.length);
      expect(answers.map((a) => a.requestId).sort()).toEqual(seen.slice(0, 4).map((s) => s.requestId).sort());
      expect(balances.requestId).toBe(seen[4]!.requestId);
    } finally {
      await client.close();
    }
  });
});
