/**
 * --auto-save DIR on pull and listen: every file message received is downloaded, checked and
 * written into DIR under its sanitised name, one at a time in arrival order. Never over an
 * existing file: `report.pdf` taken gives `report-1.pdf`, then `report-2.pdf`... Output: human
 * `saved report.pdf (2.1 MiB) to DIR/report.pdf` on stderr; --json {"event":"saved","id","path",
 * "size","sha256"}. A file that fails (tampered, expired on the relay, disk full) is a warning
 * and stays listed in `hush files` to save by hand; the command goes on.
 */
import { stat } from 'node:fs/promises';
import { extname, join, resolve } from 'node:path';
import { isHushError, UsageError } from '../errors.js';
import { downloadFile } from '../client/blob-transfer.js';
import type { Messenger, ReceivedMessage } from '../client/messenger.js';
import { toHex } from '../protocol/encoding.js';
import { fileOf, fileSummary } from './file-view.js';
import type { Output } from './output.js';

/** The --auto-save directory, resolved; UsageError AUTO_SAVE_DIR when it is not a directory (checked before any passphrase). */
export async function autoSaveDir(value: unknown): Promise<string | undefined> {
  if (value === undefined) return undefined;
  const dir = resolve(String(value));
  let ok = false;
  try {
    ok = (await stat(dir)).isDirectory();
  } catch {
    ok = false;
  }
  if (!ok) throw new UsageError('AUTO_SAVE_DIR', `--auto-save ${dir} is not a directory`, { hint: 'create it first (mkdir -p), or point --auto-save at an existing directory' });
  return dir;
}

export interface AutoSaver {
  /** Queues the file of `msg`, if it is one. */
  add(msg: ReceivedMessage): void;
  /** Resolves once every queued file is saved (or failed with a warning). */
  drain(): Promise<void>;
}

export function autoSaver(out: Output, m: Messenger, dir: string): AutoSaver {
  let chain: Promise<void> = Promise.resolve();
  const saveOne = async (msg: ReceivedMessage): Promise<void> => {
    const v = fileOf(msg.body);
    if (!v?.ok) return;
    const d = v.d;
    const ext = extname(d.name);
    const stem = d.name.slice(0, d.name.length - ext.length);
    try {
      const client = await m.client();
      for (let n = 0; ; n++) {
        const dest = join(dir, n === 0 ? d.name : `${stem}-${n}${ext}`);
        try {
          await downloadFile(client, d, dest);
        } catch (e) {
          if (isHushError(e) && e.code === 'FILE_EXISTS' && n < 1000) continue;
          throw e;
        }
        if (out.json) out.data({ event: 'saved', id: msg.id, path: dest, size: d.size, sha256: toHex(d.sha256) }, '');
        else out.info(`saved ${fileSummary(d)} to ${dest}`);
        return;
      }
    } catch (e) {
      out.warn(`${msg.from}'s file ${fileSummary(d)} was not saved: ${(e as Error).message} (hush save ${msg.id.slice(0, 12)} retries)`);
    }
  };
  return {
    add(msg) {
      if (!fileOf(msg.body)?.ok) return;
      chain = chain.then(() => saveOne(msg));
    },
    drain: () => chain,
  };
}
