import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { RUN_SCRATCH } from '../../src/recon/runs/run-scratch.js';

const SRC = new URL('../../src/', import.meta.url).pathname;

function sources(dir = SRC): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []);
}

const texts = new Map(sources().map((path) => [relative(SRC, path), readFileSync(path, 'utf8')]));
/** A name of the list as a pattern over the source: `{kind}` as the template it is built from. */
const pattern = (name: string) => new RegExp(`\\b${name.replace('{kind}', '(\\w+|\\$\\{[^}]+\\})')}`);

describe('the run\'s temporary tables and views (src/recon/runs/run-scratch.ts)', () => {
  it('every one that the source creates is listed, under the module that creates it', () => {
    const created: [string, string][] = [];
    for (const [path, text] of texts) {
      for (const m of text.matchAll(/create (?:or replace )?temp (?:table|view) (?:if not exists )?(recon_[\w${}().]+)/g)) {
        created.push([m[1]!.replace(/\$\{[^}]*\}.*/, '{}'), path]);
      }
    }
    expect(created.length).toBeGreaterThan(15);
    for (const [name, path] of created) {
      const entry = RUN_SCRATCH.find((e) => (e.createdBy === path || e.readBy.includes(path)) && (e.name === name || (name.endsWith('{}') && e.name.startsWith(name.slice(0, -2)))));
      const views = path === 'recon/load/day-tables.ts' && name.endsWith('{}');
      expect(entry !== undefined || views, `${name} created in ${path} is not in RUN_SCRATCH`).toBe(true);
    }
  });

  it('every one listed is created where it says and read where it says, and nowhere else', () => {
    for (const e of RUN_SCRATCH) {
      const creator = texts.get(e.createdBy);
      expect(creator, `${e.createdBy} (creator of ${e.name})`).toBeDefined();
      expect(pattern(e.name).test(creator!), `${e.name} in ${e.createdBy}`).toBe(true);
      for (const reader of e.readBy) expect(pattern(e.name).test(texts.get(reader) ?? ''), `${e.name} read in ${reader}`).toBe(true);
      const users = [...texts].filter(([path, text]) => path !== 'recon/runs/run-scratch.ts' && pattern(e.name).test(text)).map(([path]) => path);
      expect(users.sort(), `the modules that name ${e.name}`).toEqual([e.createdBy, ...e.readBy].sort());
    }
  });
});
