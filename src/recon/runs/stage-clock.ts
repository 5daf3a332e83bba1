/** Wall time of each stage of a run, in milliseconds, as the run's summary records it. */
export interface StageTimes {
  downloadMs: number;
  loadMs: number;
  matchMs: number;
  followUpMs: number;
  balanceMs: number;
  writeMs: number;
  totalMs: number;
}

export type Stage = 'download' | 'load' | 'match' | 'followUp' | 'balance' | 'write';

/**
 * Times a run's stages. A stage timed inside another counts for the inner one only: matching's
 * first part runs inside the load (while the bill file parses), so it counts as match time, and
 * the load's time leaves it out.
 */
export class StageClock {
  private readonly started = performance.now();
  private readonly totals: Record<Stage, number> = { download: 0, load: 0, match: 0, followUp: 0, balance: 0, write: 0 };
  /** The stages under way, innermost last, each with the time of the stages nested in it so far. */
  private readonly open: { nested: number }[] = [];

  async stage<T>(stage: Stage, work: () => Promise<T>): Promise<T> {
    const frame = { nested: 0 };
    this.open.push(frame);
    const started = performance.now();
    try {
      return await work();
    } finally {
      const elapsed = performance.now() - started;
      this.open.pop();
      this.totals[stage] += elapsed - frame.nested;
      const outer = this.open.at(-1);
      if (outer !== undefined) outer.nested += elapsed;
    }
  }

  ms(stage: Stage): number {
    return this.totals[stage];
  }

  /** The stages so far, and the total since the clock was made. */
  times(): StageTimes {
    const t = this.totals;
    return {
      downloadMs: t.download, loadMs: t.load, matchMs: t.match, followUpMs: t.followUp, balanceMs: t.balance, writeMs: t.write,
      totalMs: performance.now() - this.started,
    };
  }
}
