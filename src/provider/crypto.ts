import { createCipheriv, createDecipheriv, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** 3DES-CBC, key = the 24-byte 3deskey, IV = its first 8 bytes, PKCS#7 padding, base64. */
export function encrypt3des(plaintext: string, des3Key: string): string {
  const key = Buffer.from(des3Key, 'utf8');
  const cipher = createCipheriv('des-ede3-cbc', key, key.subarray(0, 8));
  return Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]).toString('base64');
}

/** Inverse of encrypt3des; throws on a wrong key or damaged ciphertext (bad padding). */
export function decrypt3des(ciphertext: string, des3Key: string): string {
  const key = Buffer.from(des3Key, 'utf8');
  const decipher = createDecipheriv('des-ede3-cbc', key, key.subarray(0, 8));
  return Buffer.concat([decipher.update(Buffer.from(ciphertext, 'base64')), decipher.final()]).toString('utf8');
}

/** hex(HMAC-SHA256(appkey, "data=…&mess=…&timestamp=…&key=appkey")); field order is fixed. */
export function sign(data: string, mess: string, timestamp: string, appKey: string): string {
  return createHmac('sha256', appKey)
    .update(`data=${data}&mess=${mess}&timestamp=${timestamp}&key=${appKey}`)
    .digest('hex');
}

export function signatureMatches(expectedHex: string, actualHex: string): boolean {
  const a = Buffer.from(expectedHex, 'utf8');
  const b = Buffer.from(actualHex.toLowerCase(), 'utf8');
  return a.length === b.length && timingSafeEqual(a, b);
}

export function randomMess(): string {
  return randomBytes(8).toString('hex');
}
