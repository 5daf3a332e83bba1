import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Every temporary file of a test run goes into one directory under the OS temp dir, removed when
 * the run ends, passing or failing: the tests' own folders, the downloads of the runs
 * they start, and those of the commands they start (test/helpers/cli.ts passes TMPDIR on). The
 * test files remove their folders themselves as they go; what one leaves is named here.
 */
export default function setup(): () => void {
  const dir = mkdtempSync(join(tmpdir(), 'yzh-test-run-'));
  process.env.TMPDIR = dir;
  return () => {
    const left = readdirSync(dir);
    if (left.length > 0) console.log(`test run: removing what the tests left in the temp dir: ${left.sort().join(', ')}`);
    rmSync(dir, { recursive: true, force: true });
  };
}
