import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ReconError } from '../../src/errors.js';
import { ProviderClient } from '../../src/provider/client.js';
import { ENDPOINTS } from '../../src/provider/protocol.js';
import type { Sandbox } from '../../src/provider/sandbox-server.js';
import { client, FIXTURE_DATE, FIXTURE_DIR, KEYS, providerConfig, silentLog, startSandbox } from '../helpers/provider.js';

let sandbox: Sandbox;
const tmp = mkdtempSync(join(tmpdir(), 'yzh-client-'));

beforeAll(async () => {
  sandbox = await startSandbox();
});
afterAll(async () => {
  await sandbox.stop();
  rmSync(tmp, { recursive: true, force: true });
});
afterEach(() => {
  sandbox.resetFaults();
  sandbox.calls.length = 0;
});

async function failure(promise: Promise<unknown>): Promise<ReconError> {
  const err = await promise.then(() => null, (e: unknown) => e);
  expect(err).toBeInstanceOf(ReconError);
  return err as ReconError;
}

describe('client ↔ sandbox round trips', () => {
  it('gets the order file URL and downloads exactly the fixture bytes', async () => {
    const c = client(sandbox);
    const url = await c.fileUrl('order', FIXTURE_DATE);
    const result = await c.download(url, join(tmp, 'orders.gz'), 'order file');
    expect(gunzipSync(readFileSync(result.path))).toEqual(readFileSync(join(FIXTURE_DIR, FIXTURE_DATE, 'orders.csv')));
    expect(result.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(result.lastModified).toBeInstanceOf(Date);
    await c.close();
  });

  it('gets the bill file URL', async () => {
    const c = client(sandbox);
    const url = await c.fileUrl('bill', FIXTURE_DATE);
    expect(url).toContain(`/download/${FIXTURE_DATE}/bill.csv.gz`);
    const result = await c.download(url, join(tmp, 'bills.gz'), 'bill file');
    expect(gunzipSync(readFileSync(result.path)).toString('utf8')).toContain('经纪公司退汇手续费');
    await c.close();
  });

  it('queries one order', async () => {
    const c = client(sandbox);
    const order = await c.queryOrder('2017112701', 'bankcard');
    expect(order).toMatchObject({ order_id: '2017112701', ref: '1053817962754221', pay: '195', status: 1 });
    await c.close();
  });

  it('queries balances', async () => {
    const c = client(sandbox);
    const accounts = await c.queryAccounts();
    expect(accounts[0]).toMatchObject({ broker_id: 'yiyun**', bank_card_balance: '50000.00', wxpay_balance: '997.84' }); // fixtures/sandbox/accounts.json
    await c.close();
  });

  it('sends a fresh request-id and the dealer-id on every call', async () => {
    const c = client(sandbox);
    await c.queryAccounts();
    await c.queryAccounts();
    const ids = sandbox.calls.map((call) => call.requestId);
    expect(ids).toHaveLength(2);
    expect(new Set(ids).size).toBe(2);
    expect(sandbox.calls.every((call) => call.code === '0000')).toBe(true);
    await c.close();
  });
});

describe('retries', () => {
  it('recovers from two 502s', async () => {
    sandbox.faults.apiHttpErrors = 2;
    const c = client(sandbox);
    await expect(c.fileUrl('order', FIXTURE_DATE)).resolves.toContain('/download/');
    expect(sandbox.calls.map((call) => call.code)).toEqual(['HTTP 502', 'HTTP 502', '0000']);
    await c.close();
  });

  it('gives up after the limit with a clear error', async () => {
    sandbox.faults.apiHttpErrors = 10;
    const c = client(sandbox, { YZH_RETRIES: '2' });
    const err = await failure(c.fileUrl('order', FIXTURE_DATE));
    expect(err.code).toBe('TRANSPORT');
    expect(err.message).toMatch(/gave up after 3 attempts: GET \/api\/dataservice\/v1\/order\/downloadurl answered HTTP 502 \(request_id [0-9a-f-]{36}\)/);
    expect(sandbox.calls).toHaveLength(3);
    await c.close();
  });

  it('retries a 503 download and a stalled body, and fails clearly when the stall persists', async () => {
    const c = client(sandbox, { YZH_TIMEOUT_MS: '300', YZH_RETRIES: '2' });
    sandbox.faults.downloadHttpErrors = 1;
    sandbox.faults.stalledDownloads = 1;
    sandbox.faults.stallMs = 1500;
    const url = await c.fileUrl('order', FIXTURE_DATE);
    const ok = await c.download(url, join(tmp, 'retried.gz'), 'order file');
    expect(ok.bytes).toBeGreaterThan(0);
    sandbox.faults.stalledDownloads = 5;
    const err = await failure(c.download(url, join(tmp, 'stalled.gz'), 'order file'));
    expect(err.message).toMatch(/download order file: gave up after 3 attempts: .*timed out after 300 ms/);
    await c.close();
  });

  it('never retries a provider business code', async () => {
    sandbox.faults.providerCode = '3000';
    sandbox.faults.providerCodeCalls = 1;
    const c = client(sandbox);
    await failure(c.fileUrl('order', FIXTURE_DATE));
    expect(sandbox.calls).toHaveLength(1);
    await c.close();
  });
});

describe('provider errors', () => {
  it.each([
    ['1001', /code 1001 \(签名已过期\).*clock/],
    ['1003', /code 1003 \(签名错误\).*YZH_APP_KEY/],
    ['1004', /code 1004 \(加密错误\).*YZH_DES3_KEY/],
    ['5000', /code 5000 \(不存在的账单\).*not generated yet/],
  ])('code %s says what to do', async (code, message) => {
    sandbox.faults.providerCode = code;
    sandbox.faults.providerCodeCalls = 1;
    const c = client(sandbox);
    const err = await failure(c.fileUrl('bill', FIXTURE_DATE));
    expect(err.message).toMatch(message);
    expect(err.facts.providerCode).toBe(code);
    expect(err.message).toContain(`request_id ${sandbox.calls[0]!.requestId}`);
    await c.close();
  });

  it('a real 1003 from a wrong app key, 1004 from a wrong 3DES key, 1005 from an unknown dealer', async () => {
    const wrongApp = client(sandbox, { YZH_APP_KEY: 'x'.repeat(32) });
    expect((await failure(wrongApp.fileUrl('order', FIXTURE_DATE))).facts.providerCode).toBe('1003');
    const wrongDes = client(sandbox, { YZH_DES3_KEY: 'abcdefghijklmnopqrstuvwx' });
    expect((await failure(wrongDes.fileUrl('order', FIXTURE_DATE))).facts.providerCode).toBe('1004');
    const wrongDealer = client(sandbox, { YZH_DEALER_ID: 'nobody' });
    expect((await failure(wrongDealer.fileUrl('order', FIXTURE_DATE))).facts.providerCode).toBe('1005');
    await Promise.all([wrongApp.close(), wrongDes.close(), wrongDealer.close()]);
  });

  it('5000 for a day with no file, a malformed date is 1002', async () => {
    const c = client(sandbox);
    expect((await failure(c.fileUrl('order', '2017-11-21'))).facts.providerCode).toBe('5000');
    expect((await failure(c.fileUrl('order', '2017-13-45'))).facts.providerCode).toBe('1002');
    await c.close();
  });

  it('an empty download URL names the 90-day retention', async () => {
    sandbox.faults.emptyUrlCalls = 1;
    const c = client(sandbox);
    const err = await failure(c.fileUrl('order', FIXTURE_DATE));
    expect(err.message).toMatch(/no download URL for the order file of 2017-11-20: files are kept 90 days/);
    await c.close();
  });

  it('refuses plain http to a non-loopback host without asking it', async () => {
    const c = client(sandbox);
    const err = await failure(c.download('http://files.example.invalid/x.gz', join(tmp, 'x.gz'), 'order file'));
    expect(err.message).toMatch(/refusing to download order file over http:/);
    await c.close();
  });

  it('caps the download size', async () => {
    const c = client(sandbox, { YZH_MAX_DOWNLOAD_BYTES: '100' });
    const url = await c.fileUrl('bill', FIXTURE_DATE);
    const err = await failure(c.download(url, join(tmp, 'big.gz'), 'bill file'));
    expect(err.message).toMatch(/exceeded YZH_MAX_DOWNLOAD_BYTES \(100\)/);
    await c.close();
  });

  it('the sandbox rejects a stale timestamp with 1001 and accepts milliseconds', async () => {
    const { encrypt3des, sign } = await import('../../src/provider/crypto.js');
    const data = encrypt3des('{"dealer_id":"sixcn"}', KEYS.des3Key);
    const ask = async (timestamp: string) => {
      const q = new URLSearchParams({ data, mess: 'm', timestamp, sign: sign(data, 'm', timestamp, KEYS.appKey), sign_type: 'sha256' });
      const res = await fetch(`${sandbox.url}${ENDPOINTS.queryAccounts}?${q.toString()}`, { headers: { 'dealer-id': KEYS.dealerId, 'request-id': 'r1' } });
      return ((await res.json()) as { code: string }).code;
    };
    expect(await ask(String(Math.floor(Date.now() / 1000) - 3600))).toBe('1001');
    expect(await ask(String(Date.now()))).toBe('0000');
  });
});

describe('download URL policy', () => {
  it('refuses a redirect to another scheme or to plain http off loopback, and sends no keys', async () => {
    const { createServer } = await import('node:http');
    const seen: Record<string, string | string[] | undefined>[] = [];
    const server = createServer((req, res) => {
      seen.push(req.headers);
      res.writeHead(302, { location: req.url === '/ftp' ? 'ftp://files.example/x.gz' : 'http://files.example/x.gz' }).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    const c = client(sandbox);
    const ftp = await failure(c.download(`http://127.0.0.1:${port}/ftp`, join(tmp, 'r1.gz'), 'order file'));
    expect(ftp.message).toMatch(/refusing to download order file over ftp:/);
    const http = await failure(c.download(`http://127.0.0.1:${port}/http`, join(tmp, 'r2.gz'), 'order file'));
    expect(http.message).toMatch(/refusing to download order file over http:/);
    expect(seen.length).toBe(2);
    for (const headers of seen) {
      expect(Object.keys(headers)).not.toContain('dealer-id');
      expect(JSON.stringify(headers)).not.toContain(KEYS.appKey);
    }
    await c.close();
    server.close();
  });
});

describe('answers of the wrong shape', () => {
  const ORDER_URL = ENDPOINTS.orderFileUrl.replace(/\//g, '\\/');
  it.each([
    ['{"code":"0000","data":null}', 'answered code 0000 with data null, not an object'],
    ['{"code":"0000"}', 'answered code 0000 with data missing, not an object'],
    ['{"code":"0000","data":[]}', 'answered code 0000 with data a list \\[\\], not an object'],
    ['{"code":"0000","data":{}}', 'answered code 0000 with order_download_url missing, not a string'],
    ['{"code":"0000","data":{"order_download_url":7}}', 'answered code 0000 with order_download_url a number 7, not a string'],
    ['{"data":{}}', 'answered HTTP 200 with code missing, not a provider code'],
    ['null', 'answered HTTP 200 with null, not a provider envelope'],
    ['"0000"', 'answered HTTP 200 with a string "0000", not a provider envelope'],
  ])('%s is a provider error naming the endpoint and request id', async (body, message) => {
    sandbox.faults.rawAnswer = body;
    sandbox.faults.rawAnswerCalls = 1;
    const c = client(sandbox);
    const err = await failure(c.fileUrl('order', FIXTURE_DATE));
    expect(err.code).toBe('PROVIDER');
    expect(err.message).toMatch(new RegExp(`^GET ${ORDER_URL} ${message} [[(]request_id [0-9a-f-]{36}[\\])]$`));
    expect(err.facts).toMatchObject({ endpoint: ENDPOINTS.orderFileUrl, requestId: expect.stringMatching(/^[0-9a-f-]{36}$/) as unknown });
    // Not retried: it would answer the same.
    expect(sandbox.calls).toHaveLength(1);
    await c.close();
  });

  it('checks the fields read from query-accounts and query-realtime-order too', async () => {
    const c = client(sandbox);
    sandbox.faults.rawAnswer = '{"code":"0000","data":{"dealer_infos":null},"request_id":"r-1"}';
    sandbox.faults.rawAnswerCalls = 1;
    expect((await failure(c.queryAccounts())).message)
      .toBe(`GET ${ENDPOINTS.queryAccounts} answered code 0000 with dealer_infos null, not a list of accounts [request_id r-1]`);
    sandbox.faults.rawAnswer = '{"code":"0000","data":{"status":1},"request_id":"r-2"}';
    sandbox.faults.rawAnswerCalls = 1;
    expect((await failure(c.queryOrder('2017112701', 'bankcard'))).message)
      .toBe(`GET ${ENDPOINTS.queryOrder} answered code 0000 with order_id missing, not a string [request_id r-2]`);
    await expect(c.queryAccounts()).resolves.toHaveLength(1);
    await c.close();
  });
});

describe('YZH_RETRIES=0 and local file failures', () => {
  it('YZH_RETRIES=0 makes one attempt', async () => {
    sandbox.faults.apiHttpErrors = 1;
    const c = client(sandbox, { YZH_RETRIES: '0' });
    const err = await failure(c.fileUrl('order', FIXTURE_DATE));
    expect(err.message).toMatch(/^GET \/api\/dataservice\/v1\/order\/downloadurl: gave up after 1 attempt \(YZH_RETRIES=0\): .*HTTP 502/);
    expect(sandbox.calls).toHaveLength(1);
    await c.close();
  });

  it('a download that cannot be written (a full disk) is a local file error, not retried as a transport fault', async () => {
    const c = client(sandbox, { YZH_RETRIES: '3' });
    const url = await c.fileUrl('order', FIXTURE_DATE);
    const err = await failure(c.download(url, '/dev/full', 'order file'));
    expect(err.code).toBe('FILESYSTEM');
    expect(err.message).toBe('download order file: writing /dev/full: ENOSPC: no space left on device, write (no room left: the file system is full, or over a quota or file-size limit)');
    await c.close();
  });
});

describe('an answer is read within one deadline and at most 1 MiB', () => {
  /**
   * A provider that answers the real-time order query with HTTP 200 and then a body of its
   * own making, for answers the sandbox does not give: `send` writes it (with backpressure)
   * and says how many bytes it wrote before the client hung up.
   */
  async function hostile(send: (res: ServerResponse) => Promise<void>): Promise<{ url: string; written: () => number; close: () => Promise<void> }> {
    let written = 0;
    const server = createServer((_req, res) => {
      const write = res.write.bind(res) as (chunk: Buffer | string) => boolean;
      res.write = ((chunk: Buffer | string) => { written += Buffer.byteLength(chunk); return write(chunk); }) as typeof res.write;
      void send(res).catch(() => res.destroy());
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return {
      url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      written: () => written,
      close: async () => {
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      },
    };
  }
  const hostileClient = (url: string) => new ProviderClient({ ...providerConfig(sandbox, { YZH_TIMEOUT_MS: '400', YZH_RETRIES: '0' }), baseUrl: url }, silentLog);
  const open = (res: ServerResponse, headers: Record<string, string | number> = {}) =>
    res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', ...headers });

  it('one deadline for the whole exchange: an answer trickling a byte at a time is given up at YZH_TIMEOUT_MS', async () => {
    // Each pause (100 ms) is well under YZH_TIMEOUT_MS (400 ms); the body never ends.
    const server = await hostile(async (res) => {
      open(res);
      res.write('{"code":"0000","data":{"order_id":"X1","status_message":"');
      while (!res.destroyed) {
        res.write('x');
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    });
    const c = hostileClient(server.url);
    const started = performance.now();
    const err = await failure(c.askOrder('X1', 'bankcard'));
    expect(performance.now() - started).toBeLessThan(3000);
    expect(err.code).toBe('TRANSPORT');
    expect(err.message).toMatch(/timed out after 400 ms/);
    await c.close();
    await server.close();
  }, 8000);

  it('an answer over 1 MiB is refused while it is read (not buffered), and one of just under 1 MiB is read', async () => {
    const envelope = (pad: number) => `{"code":"0000","message":"ok","request_id":"r-big","data":{"order_id":"X1","status":1,"status_detail":0,"pad":"${'x'.repeat(pad)}"}}`;
    const chunk = Buffer.alloc(64 * 1024, 'x');
    // 100 MiB without a Content-Length, written as fast as the client reads it.
    const endless = await hostile(async (res) => {
      open(res);
      res.write('{"code":"0000","message":"ok","request_id":"r-big","data":{"order_id":"X1","pad":"');
      for (let i = 0; i < 1600 && !res.destroyed; i++) {
        if (!res.write(chunk)) await new Promise((resolve) => res.once('drain', resolve).once('close', resolve));
      }
      if (!res.destroyed) res.end('"}}');
    });
    const c = hostileClient(endless.url);
    const err = await failure(c.askOrder('X1', 'bankcard'));
    expect(err.code).toBe('PROVIDER');
    expect(err.message).toBe(`GET ${ENDPOINTS.queryOrder} answered more than 1 MiB (1048576 bytes); refused`);
    // The client stopped reading: far less than the 100 MiB was ever sent.
    expect(endless.written()).toBeLessThan(16 * 1024 * 1024);
    await c.close();
    await endless.close();

    // A Content-Length over 1 MiB is refused without reading; 1 MiB exactly is an answer.
    let body = envelope(2 * 1024 * 1024);
    const declared = await hostile((res) => {
      open(res, { 'content-length': Buffer.byteLength(body) });
      res.end(body);
      return Promise.resolve();
    });
    const d = hostileClient(declared.url);
    expect((await failure(d.askOrder('X1', 'bankcard'))).message).toBe(`GET ${ENDPOINTS.queryOrder} answered more than 1 MiB (1048576 bytes); refused`);
    body = envelope(1024 * 1024 - envelope(0).length);
    expect(Buffer.byteLength(body)).toBe(1024 * 1024);
    const answer = await d.askOrder('X1', 'bankcard');
    expect(answer.order).toMatchObject({ order_id: 'X1', status: 1 });
    await d.close();
    await declared.close();
  }, 10_000);
});
