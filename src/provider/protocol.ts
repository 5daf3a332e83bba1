/** Facts of the provider protocol shared by the client and the sandbox. */

export const ENDPOINTS = {
  orderFileUrl: '/api/dataservice/v1/order/downloadurl',
  billFileUrl: '/api/dataservice/v1/bill/downloadurl',
  queryOrder: '/api/payment/v1/query-realtime-order',
  queryAccounts: '/api/payment/v1/query-accounts',
} as const;

export const SUCCESS_CODE = '0000';

/**
 * The document's error table, with what a person should do about each code. Business codes
 * are never retried blindly: they will answer the same until someone acts.
 */
export const PROVIDER_CODES: Readonly<Record<string, string>> = {
  '1001': 'signature expired: the request timestamp is outside the provider window; check this machine\'s clock (NTP)',
  '1002': 'request parameters malformed',
  '1003': 'signature rejected: check YZH_APP_KEY and YZH_DEALER_ID',
  '1004': 'decryption failed at the provider: check YZH_DES3_KEY',
  '1005': 'the provider has no keys for this dealer: check YZH_DEALER_ID, or ask the provider to configure the 3deskey and appkey',
  '2011': 'order does not exist',
  '2018': 'order does not exist',
  '3000': 'the provider\'s bank system is unavailable; try again later',
  '5000': 'no such bill: the file is not generated yet (files for day D appear on D+1 from 03:30/03:45 Beijing time)',
};

/** Signature window the sandbox enforces, as the provider does (document: "签名已过期"). */
export const SIGNATURE_WINDOW_SECONDS = 300;

export interface ProviderEnvelope<T> {
  code: string;
  message: string;
  data?: T;
  request_id?: string;
}

export type FileKind = 'order' | 'bill';

export const FILE_KINDS: readonly FileKind[] = ['order', 'bill'];

/** Provider channel names, as the files and the query endpoint spell them. */
export const CHANNEL_NAMES = { bankcard: '银行卡', alipay: '支付宝', wxpay: '微信' } as const;
export type Channel = keyof typeof CHANNEL_NAMES;
