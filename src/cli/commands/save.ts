/**
 * hush save ID [-o PATH] [--force]: downloads a received file from the relay, opens and checks
 * every chunk and the SHA-256, and writes it atomically (a hidden temporary file beside the
 * destination, renamed at the end). Never over an existing file without --force (FILE_EXISTS,
 * exit 2). The destination is `-o PATH` (a directory: the file goes inside under its sanitised
 * name), else the sanitised name in the current directory: the sender's name is never a path.
 * A tampered or truncated file (CHUNK_TAMPERED, FILE_HASH_MISMATCH) and a full disk (DISK_FULL)
 * exit 6 and leave nothing at the destination; a lost connection exits 4 and the next save
 * resumes; a blob the relay no longer has is FILE_GONE (exit 4). Output: `saved report.pdf (2.1 MiB) to ./report.pdf` on stderr; --json progress lines
 * then {"event":"saved","id","path","size","sha256"}.
 */
import { stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { downloadFile } from '../../client/blob-transfer.js';
import { toHex } from '../../protocol/encoding.js';
import { fileSummary } from '../file-view.js';
import { openSession } from '../messaging.js';
import { findReceivedFile } from '../received-files.js';
import { crashAfter, transferProgress } from '../transfer-progress.js';
import type { CommandRun } from './index.js';

/** Where `-o` points: into a directory under `name`, or the path itself. */
export async function destination(output: string | undefined, name: string): Promise<string> {
  if (output === undefined) return resolve(name);
  try {
    if ((await stat(output)).isDirectory()) return join(resolve(output), name);
  } catch {
    // not there yet: a file path
  }
  return resolve(output);
}

export const run: CommandRun = async (ctx, args, opts) => {
  const s = await openSession(ctx);
  try {
    const f = findReceivedFile(s.m.store, String(args.id));
    const dest = await destination(opts.output as string | undefined, f.d.name);
    const client = await s.m.client();
    const bar = transferProgress(ctx.out, 'save', f.d.name);
    const crash = crashAfter(ctx.env, 'save');
    try {
      await downloadFile(client, f.d, dest, {
        force: opts.force === true,
        onProgress: (d, t) => {
          bar.update(d, t);
          crash(d);
        },
      });
    } finally {
      bar.end();
    }
    if (ctx.out.json) ctx.out.data({ event: 'saved', id: f.id, path: dest, size: f.d.size, sha256: toHex(f.d.sha256) }, '');
    else ctx.out.info(`saved ${fileSummary(f.d)} to ${dest}`);
  } finally {
    await s.close();
  }
};
