import type { Session } from '../../db/connection.js';
import type { FileKind } from '../../provider/protocol.js';

/** One downloaded file to load into its day's load table. */
export interface LoadJob {
  kind: FileKind;
  /** The downloaded gzip file. */
  path: string;
  /** The file's name in messages ("order file 2024-06-30"). */
  label: string;
  /** The load table (day-tables.ts createLoadTable), empty. */
  table: string;
  dealerId: string;
  date: string;
  /**
   * Where the ids the framing found repeated go (the server's typed load): by default a temp
   * table on the loading session (server-loader.ts createMultiTable); a load on a side
   * connection hands them here, for the run's own session.
   */
  onRepeats?: (ids: string[]) => void;
}

/**
 * Loads one file into its load table inside the caller's transaction; returns the rows
 * loaded. A bad file fails with an error naming the file, line and column. There are two:
 * Postgres' own COPY parser on a server (server-loader.ts), csv-parse feeding COPY on the
 * embedded engine (embedded-loader.ts); both apply the same checks.
 */
export type FileLoader = (session: Session, job: LoadJob, onRows: (rows: number) => void, signal?: AbortSignal) => Promise<number>;
