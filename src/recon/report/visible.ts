/**
 * Text from outside (provider files, the ledger, live answers, finance's notes) may hold
 * characters that change how the text around them is shown without being seen themselves:
 * bidirectional controls (an order id `ORD<U+202E>1234` with U+202E shows as "ORD4321") and
 * zero-width characters (two ids that look the same and are not). Wherever such text is shown
 * to a person (the page, the CSV, the terminal, messages), each of them is written as a
 * visible `⟨U+202E⟩` instead, so that it is seen and never applied. The stored values stay
 * as they came: they are the evidence.
 */

/**
 * Bidirectional controls: U+202A-202E (embeddings, overrides), U+2066-2069 (isolates), the
 * marks U+200E, U+200F and U+061C. Zero-width: U+200B-200D, U+2060, U+FEFF.
 */
const CONTROLS = /[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c\u200b-\u200d\u2060\ufeff]/gu;

const codePoint = (ch: string) => ch.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0');

/** The text with every bidirectional and zero-width control written as `⟨U+XXXX⟩`. */
export function showControls(text: string): string {
  return text.replace(CONTROLS, (ch) => `⟨U+${codePoint(ch)}⟩`);
}

/**
 * The inverse, for cells read back from an exported CSV: a `⟨U+XXXX⟩` naming one of those
 * controls is that character again, so that an unchanged cell compares equal to what is stored.
 */
export function restoreControls(text: string): string {
  return text.replace(/⟨U\+([0-9A-F]{4})⟩/g, (escaped, hex: string) => {
    const ch = String.fromCodePoint(Number.parseInt(hex, 16));
    return ch.replace(CONTROLS, '') === '' ? ch : escaped;
  });
}

/**
 * JSON for a person's terminal and for programs alike: every such control inside a string is
 * written as a JSON escape (`\u202e`), which any JSON reader turns back into the exact value,
 * while the text as printed holds none of them.
 */
export function jsonWithoutControls(value: unknown): string {
  return JSON.stringify(value, null, 2).replace(CONTROLS, (ch) => `\\u${codePoint(ch).toLowerCase()}`);
}
