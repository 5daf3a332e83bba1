import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * Every relative link in README.md and docs/*.md resolves: the file it names exists, and an
 * anchor (`file.md#anchor`, or `#anchor` in the same file) is the GitHub slug of one of that
 * file's headings. Links to other sites are not followed.
 */
const ROOT = join(dirname(new URL(import.meta.url).pathname), '..', '..');
const pages = ['README.md', ...readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];

/** The text outside fenced code blocks and inline code spans, line by line. */
function prose(text: string): string[] {
  let fenced = false;
  return text.split('\n').map((line) => {
    if (/^\s*```/.test(line)) {
      fenced = !fenced;
      return '';
    }
    return fenced ? '' : line.replace(/`[^`]*`/g, '');
  });
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens; repeats get -1, -2. */
function slugs(text: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  let fenced = false;
  for (const line of text.split('\n')) {
    if (/^\s*```/.test(line)) fenced = !fenced;
    const m = fenced ? null : /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!m) continue;
    const base = m[1]!.replace(/<[^>]*>/g, '').toLowerCase().replace(/[^\p{L}\p{N}\p{M} _-]/gu, '').replace(/ /g, '-');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

function links(page: string): { line: number; target: string }[] {
  return prose(readFileSync(join(ROOT, page), 'utf8')).flatMap((line, i) =>
    [...line.matchAll(/!?\[[^\]]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)].map((m) => ({ line: i + 1, target: m[1]! })));
}

describe('links in README.md and docs/', () => {
  it('the headings are read as GitHub names their anchors', () => {
    expect([...slugs("## The embedded database's lock\n## Chat messages after each run (企业微信, 钉钉, 飞书)\n```\n# not a heading\n```\n## 在 Excel 里确认差异\n## The Excel workbook (`report --format xlsx`)\n## Stop\n## Stop")])
      .toEqual(['the-embedded-databases-lock', 'chat-messages-after-each-run-企业微信-钉钉-飞书', '在-excel-里确认差异', 'the-excel-workbook-report---format-xlsx', 'stop', 'stop-1']);
  });

  it('every relative link names a file that exists and, with an anchor, a heading of it', () => {
    const broken: string[] = [];
    let count = 0;
    for (const page of pages) {
      for (const { line, target } of links(page)) {
        if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue;
        count += 1;
        const [path, anchor] = target.split('#', 2) as [string, string | undefined];
        const file = path === '' ? join(ROOT, page) : join(ROOT, dirname(page), decodeURI(path));
        const where = `${page}:${line}: ${target}`;
        if (!existsSync(file)) {
          broken.push(`${where} (no file ${relative(ROOT, file)})`);
        } else if (anchor !== undefined && !(file.endsWith('.md') && slugs(readFileSync(file, 'utf8')).has(decodeURIComponent(anchor)))) {
          broken.push(`${where} (no heading with that anchor in ${relative(ROOT, file)})`);
        }
      }
    }
    expect(count).toBeGreaterThan(20);
    expect(broken).toEqual([]);
  });
});
