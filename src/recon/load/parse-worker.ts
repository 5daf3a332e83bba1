/**
 * Worker-thread entry: parses one provider file into COPY text (copy-text.ts) and posts it to
 * the parent in chunks, at most PARSE_WINDOW unacknowledged, so that backpressure from the
 * database reaches the parser.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { ReconError } from '../../errors.js';
import { copyText, type ParseJob } from './copy-text.js';
import { PARSE_WINDOW, type WorkerMessage } from './parse-thread.js';

const port = parentPort!;
let credits = PARSE_WINDOW;
let resume: (() => void) | null = null;
port.on('message', (m: 'more') => {
  if (m !== 'more') return;
  credits++;
  const r = resume;
  resume = null;
  r?.();
});
const post = (m: WorkerMessage) => port.postMessage(m);

let rows = 0;
try {
  for await (const chunk of copyText(workerData as ParseJob, (n) => { rows = n; })) {
    if (credits === 0) await new Promise<void>((r) => { resume = r; });
    credits--;
    post({ type: 'chunk', text: chunk as string, rows });
  }
  post({ type: 'done', rows });
} catch (err) {
  const e = err instanceof ReconError ? err : null;
  post({
    type: 'error',
    code: e?.code ?? 'INTERNAL',
    message: (err as Error).message ?? String(err),
    facts: e ? { ...e.facts } : {},
  });
}
port.close();
