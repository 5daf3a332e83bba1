import type { Logger } from '../../logger.js';

export interface Progress {
  /** Sets the running total (bytes or rows). Cheap: called per chunk or per row. */
  update(total: number): void;
  done(): void;
}

export interface ProgressOptions {
  /** How often a JSON progress line is logged. */
  intervalMs?: number;
  /** A live line on stderr when it is a terminal (JSON lines still go to the log). */
  tty?: NodeJS.WriteStream | null;
}

const fmtUnit = (n: number, unit: 'bytes' | 'rows') =>
  unit === 'bytes' ? `${(n / 1024 / 1024).toFixed(1)} MiB` : `${n.toLocaleString('en-US')} rows`;

/**
 * Progress of a long download or load: a JSON line every few seconds (so `kubectl logs` shows
 * the job is alive and how fast it goes) and, on a terminal, a live line redrawn in place.
 */
export function startProgress(log: Logger, what: string, unit: 'bytes' | 'rows', options: ProgressOptions = {}): Progress {
  const started = Date.now();
  const tty = options.tty === undefined ? (process.stderr.isTTY ? process.stderr : null) : options.tty;
  let total = 0;
  const snapshot = () => {
    const elapsedS = (Date.now() - started) / 1000;
    return { what, unit, total, elapsedS: Math.round(elapsedS * 10) / 10, perSecond: elapsedS > 0 ? Math.round(total / elapsedS) : 0 };
  };
  const timer = setInterval(() => log.info(snapshot(), `${what}: ${fmtUnit(total, unit)}`), options.intervalMs ?? 5000);
  timer.unref();
  const bar = tty === null ? null : setInterval(() => {
    const s = snapshot();
    tty.write(`\r${what}: ${fmtUnit(s.total, unit)} · ${fmtUnit(s.perSecond, unit)}/s · ${s.elapsedS.toFixed(0)} s\x1b[K`);
  }, 250);
  bar?.unref();
  return {
    update(n) {
      total = n;
    },
    done() {
      clearInterval(timer);
      if (bar !== null) {
        clearInterval(bar);
        tty!.write('\r\x1b[K');
      }
    },
  };
}
