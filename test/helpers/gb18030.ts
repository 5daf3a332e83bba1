/**
 * GB18030 bytes for a text, as older Excel builds on Chinese Windows save a CSV. Node encodes
 * only UTF-8, so the two-byte table is built by decoding every two-byte code once; ASCII is
 * itself. Enough for the Chinese of these tests; anything outside the table throws.
 */
let table: Map<string, [number, number]> | null = null;

function twoByteTable(): Map<string, [number, number]> {
  if (table !== null) return table;
  table = new Map();
  const decoder = new TextDecoder('gb18030', { fatal: true });
  for (let a = 0x81; a <= 0xfe; a++) {
    for (let b = 0x40; b <= 0xfe; b++) {
      if (b === 0x7f) continue;
      try {
        const ch = decoder.decode(new Uint8Array([a, b]));
        if (ch.length === 1 && !table.has(ch)) table.set(ch, [a, b]);
      } catch {
        // not a two-byte code
      }
    }
  }
  return table;
}

export function encodeGb18030(text: string): Buffer {
  const out: number[] = [];
  for (const ch of text) {
    const code = ch.codePointAt(0)!;
    if (code < 0x80) {
      out.push(code);
      continue;
    }
    const bytes = twoByteTable().get(ch);
    if (bytes === undefined) throw new Error(`no two-byte GB18030 code for ${JSON.stringify(ch)}`);
    out.push(...bytes);
  }
  return Buffer.from(out);
}
