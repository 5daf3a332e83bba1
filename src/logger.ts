import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger };

/**
 * Paths pino censors wherever they appear. Keys and signatures are secrets; the decrypted
 * fields are personal data the provider returns for a queried order. `data` is the
 * ciphertext of a request, which carries the same personal data encrypted.
 */
export const REDACT_PATHS = [
  'appKey', 'des3Key', 'sign', 'data', 'mess', 'encry_data',
  'real_name', 'id_card', 'card_no', 'phone_no', 'name', 'account',
  '*.appKey', '*.des3Key', '*.sign', '*.data', '*.mess', '*.encry_data',
  '*.real_name', '*.id_card', '*.card_no', '*.phone_no', '*.name', '*.account',
  'headers.authorization', 'databaseUrl', '*.databaseUrl',
];

/** The one root logger; runs and steps take `child()` loggers that carry their context. */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { app: 'yzh-recon' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      formatters: { level: (label) => ({ level: label }) },
    },
    destination ?? pino.destination({ dest: 2, sync: true }),
  );
}
