import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { chmod, copyFile, mkdir, open, readdir, rename, rm, rmdir, stat } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import { ReconError } from '../errors.js';
import type { FileKind } from './protocol.js';

/**
 * The raw-file archive: every file the provider sent, kept verbatim (the gzip bytes as
 * downloaded) under a content address, `<dealer>/<business date>/<kind>/<sha256>.csv.gz`.
 *
 * An object is written to a temporary name in its folder, fsynced, made read-only and renamed
 * into place, and the folders above it are fsynced, so that after a crash a key either names
 * the whole file or nothing. An object already at its key is reused only when its size and
 * sha256 are the key's; otherwise (a copy cut short, a disk error) it is written again the same
 * way, replacing it in one rename. Runs of one dealer never overlap (the run lock), so no two
 * writers race for one key.
 */

const DATE = /^\d{4}-\d{2}-\d{2}$/;
const SHA256 = /^[0-9a-f]{64}$/;
const KINDS: readonly FileKind[] = ['order', 'bill'];

export interface ArchiveObject {
  key: string;
  dealerId: string;
  businessDate: string;
  kind: FileKind;
  sha256: string;
  bytes: number;
}

/** A dealer id as one path segment: anything but letters, digits, `-`, `_`, `.` is %-escaped. */
function dealerSegment(dealerId: string): string {
  const segment = encodeURIComponent(dealerId).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  if (segment === '' || segment === '.' || segment === '..') throw new ReconError('ARCHIVE', `dealer id "${dealerId}" cannot name an archive folder`);
  return segment;
}

export function archiveKey(dealerId: string, businessDate: string, kind: FileKind, sha256: string): string {
  if (!DATE.test(businessDate) || !SHA256.test(sha256) || !KINDS.includes(kind)) {
    throw new ReconError('INTERNAL', `not an archive key: ${dealerId}/${businessDate}/${kind}/${sha256}`);
  }
  return `${dealerSegment(dealerId)}/${businessDate}/${kind}/${sha256}.csv.gz`;
}

export function parseArchiveKey(key: string): Omit<ArchiveObject, 'bytes'> | null {
  const m = /^([^/]+)\/(\d{4}-\d{2}-\d{2})\/(order|bill)\/([0-9a-f]{64})\.csv\.gz$/.exec(key);
  if (m === null) return null;
  let dealerId: string;
  try {
    dealerId = decodeURIComponent(m[1]!);
  } catch {
    return null;
  }
  return { key, dealerId, businessDate: m[2]!, kind: m[3] as FileKind, sha256: m[4]! };
}

/** Hashes a file as it streams: sha256 and size. */
export async function hashFile(path: string): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of createReadStream(path)) {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  return { sha256: hash.digest('hex'), bytes };
}

async function fsyncPath(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

function describe(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  return e.code !== undefined ? `${e.code}: ${e.message.replace(/^\w+: /, '')}` : String(e.message ?? err);
}

export class Archive {
  readonly root: string;

  constructor(root: string) {
    this.root = resolve(root);
  }

  path(key: string): string {
    return join(this.root, ...key.split('/'));
  }

  /**
   * Keeps the file at `source` (already hashed by the download) under its content address.
   * Returns the key; `created` is false when an object with the same size and sha256 was
   * already there. One that was there but is not what its key says is written again, and
   * `replaced` says what it was ("<bytes> bytes, sha256 <first 12>"), for the caller to warn.
   */
  async put(source: string, object: Omit<ArchiveObject, 'key'>): Promise<{ key: string; created: boolean; replaced?: string }> {
    const key = archiveKey(object.dealerId, object.businessDate, object.kind, object.sha256);
    const target = this.path(key);
    const folder = dirname(target);
    const temp = join(folder, `.${object.sha256}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
    let replaced: string | undefined;
    try {
      const existing = await stat(target).catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') return null;
        throw err;
      });
      if (existing !== null) {
        // The size first: a truncated copy is told without reading it.
        const found = existing.size === object.bytes ? await hashFile(target) : { sha256: null, bytes: existing.size };
        if (found.sha256 === object.sha256) return { key, created: false };
        replaced = `${found.bytes} bytes, sha256 ${found.sha256 === null ? 'not read' : found.sha256.slice(0, 12)}`;
      }
      await mkdir(folder, { recursive: true });
      await copyFile(source, temp);
      // What goes in must be the file the key names, whatever the caller passed.
      const copy = await hashFile(temp);
      if (copy.sha256 !== object.sha256 || copy.bytes !== object.bytes) {
        throw new Error(`${source} is not the file to archive: sha256 ${copy.sha256.slice(0, 12)} (${copy.bytes} bytes), expected ${object.sha256.slice(0, 12)} (${object.bytes} bytes)`);
      }
      await fsyncPath(temp);
      await chmod(temp, 0o444);
      await rename(temp, target);
      // The rename, and any folder created for it, reach the disk with their parents.
      for (let dir = folder; dir.startsWith(this.root); dir = dirname(dir)) {
        await fsyncPath(dir);
        if (dir === this.root) break;
      }
      return { key, created: true, ...(replaced === undefined ? {} : { replaced }) };
    } catch (err) {
      await rm(temp, { force: true }).catch(() => {});
      throw new ReconError('ARCHIVE', `cannot write ${object.kind} file ${object.businessDate} to the archive ${this.root} (YZH_ARCHIVE_DIR): ${describe(err)}`, {
        cause: err, facts: { archiveDir: this.root, key },
      });
    }
  }

  /** The object's size, or null when it is not there. */
  async size(key: string): Promise<number | null> {
    try {
      return (await stat(this.path(key))).size;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw new ReconError('ARCHIVE', `cannot read the archive ${this.root} (YZH_ARCHIVE_DIR): ${describe(err)}`, { cause: err });
    }
  }

  /** Every object in the archive (temporary files and anything else left out), in key order. */
  async list(): Promise<ArchiveObject[]> {
    const objects: ArchiveObject[] = [];
    const entries = async (dir: string): Promise<string[]> => {
      try {
        return (await readdir(dir)).sort();
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOENT' || code === 'ENOTDIR') return [];
        throw new ReconError('ARCHIVE', `cannot read the archive ${this.root} (YZH_ARCHIVE_DIR): ${describe(err)}`, { cause: err });
      }
    };
    for (const dealer of await entries(this.root)) {
      for (const day of await entries(join(this.root, dealer))) {
        for (const kind of await entries(join(this.root, dealer, day))) {
          for (const name of await entries(join(this.root, dealer, day, kind))) {
            const parsed = parseArchiveKey(`${dealer}/${day}/${kind}/${name}`);
            if (parsed === null) continue;
            const size = await this.size(parsed.key);
            if (size !== null) objects.push({ ...parsed, bytes: size });
          }
        }
      }
    }
    return objects;
  }

  /** Removes one object, and the folders it leaves empty. */
  async remove(key: string): Promise<void> {
    const target = this.path(key);
    try {
      await rm(target, { force: true });
      for (let dir = dirname(target); dir !== this.root && dir.startsWith(this.root + sep); dir = dirname(dir)) {
        if ((await readdir(dir)).length > 0) break;
        await rmdir(dir);
      }
    } catch (err) {
      throw new ReconError('ARCHIVE', `cannot remove ${key} from the archive ${this.root} (YZH_ARCHIVE_DIR): ${describe(err)}`, { cause: err });
    }
  }
}
