import type { Session } from '../../db/connection.js';

declare const inRunTransaction: unique symbol;

/**
 * The run's session while its transaction is open. Only RunTransaction makes one, so a stage
 * that takes it (the load, matching, the live follow-up, the balances, the findings written,
 * the run marked succeeded, its audit link, the swap of the day's tables) cannot be called
 * outside the run's transaction: its temp tables and views are dropped at commit, and what it
 * writes must commit or roll back with the rest of the run.
 */
export type RunTx = Session & { readonly [inRunTransaction]: true };

/**
 * The run's transaction on the run's session: begin, commit, or rollback after a failure.
 *
 * While it is open, and until it is released at the end of the run, a stop signal cancels the
 * statement running on the session server-side (a long COPY or rule), so that the rollback
 * starts within moments rather than after the statement.
 */
export class RunTransaction {
  /** The server-side cancel a stop signal sent; awaited before the rollback. */
  private cancelling: Promise<void> | null = null;
  private open = true;
  private readonly onAbort = () => { this.cancelling = this.session.cancel().catch(() => {}); };

  private constructor(private readonly session: Session, private readonly signal: AbortSignal | undefined) {}

  static async begin(session: Session, signal: AbortSignal | undefined): Promise<RunTransaction> {
    await session.exec('begin');
    const transaction = new RunTransaction(session, signal);
    signal?.addEventListener('abort', transaction.onAbort, { once: true });
    return transaction;
  }

  /** The session, as the stages that must run inside the transaction take it. */
  get tx(): RunTx {
    return this.session as RunTx;
  }

  async commit(): Promise<void> {
    await this.session.exec('commit');
    this.open = false;
  }

  /**
   * After a failure. The cancel travels on a connection of its own: were it still on its way,
   * it could land on the rollback or on the statement that records the failure, and the run
   * would stay 'running'. Once it has arrived, a backend that has moved on ignores it.
   */
  async rollback(): Promise<void> {
    await this.cancelling;
    if (!this.open) return;
    this.open = false;
    await this.session.exec('rollback').catch(() => {});
  }

  /** At the end of the run: a stop signal no longer cancels anything. */
  release(): void {
    this.signal?.removeEventListener('abort', this.onAbort);
  }
}
