/**
 * hush files [NAME]: the files received (from everyone, or from NAME), oldest first. No relay
 * needed. Human, one per line: `ID(12)  2026-11-23 20:40  bob  report.pdf  2.1 MiB`; --json one
 * object per file {"id","from","time","name","size","sha256","text"?} (never the key).
 */
import { formatTime, openLocal, pad, safeName, safeText, unknownContact } from '../format.js';
import { fileJson } from '../file-view.js';
import { receivedFiles } from '../received-files.js';
import { formatBytes } from '../transfer-progress.js';
import type { CommandRun } from './index.js';

export const run: CommandRun = async (ctx, args) => {
  const name = typeof args.name === 'string' ? args.name : undefined;
  const local = await openLocal(ctx);
  try {
    let contactId: number | undefined;
    if (name !== undefined) {
      const c = local.store.findContactByLabel(name);
      if (!c) throw unknownContact(name);
      contactId = c.id;
    }
    const list = receivedFiles(local.store, contactId);
    if (list.length === 0) {
      if (!ctx.out.json) ctx.out.info(name === undefined ? 'no files received' : `no files received from ${name}`);
      return;
    }
    const w = Math.max(...list.map((f) => safeName(f.from).length));
    for (const f of list) {
      ctx.out.data(
        { id: f.id, from: f.from, time: f.time, ...fileJson(f.d) },
        `${f.id.slice(0, 12)}  ${ctx.out.c.dim(formatTime(f.time))}  ${pad(safeName(f.from), w)}  ${safeText(f.d.name)}  ${formatBytes(f.d.size)}`,
      );
    }
  } finally {
    local.close();
  }
};
