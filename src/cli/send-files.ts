/**
 * hush send NAME --file PATH [--file PATH ...] [TEXT]: each file is sealed and uploaded to the
 * relay's blob store (src/client/blob-transfer.ts), then announced to NAME by an ordinary sealed
 * message carrying its descriptor (src/protocol/file-descriptor.ts), stored and sent through the
 * outbox like any message. TEXT goes with the first file. `--file -` reads stdin (needs --name).
 * NAME may be `@GROUP`: one upload for every member, the message fanned out (./file-targets.ts);
 * then the --json line has `members` and `ids` (each member's message id) instead of `id`.
 * Output: human `sent report.pdf (2.1 MiB) to bob` on stderr; --json one line per file
 * {"event":"file-sent","to":…,"id":…,"name":…,"size":…,"sha256":…,"resumed":BYTES} after the progress
 * lines (resumed: bytes the relay already held from an interrupted run of the same send).
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { DataError, RelayError, UsageError } from '../errors.js';
import { type ChunkSource, fileSource, spooledSource, uploadFile, type UploadResult } from '../client/blob-transfer.js';
import { sourceId, UploadStates } from '../client/upload-state.js';
import { toHex } from '../protocol/encoding.js';
import { encodeFileBody, MAX_FILE_TEXT_BYTES, sanitiseFileName } from '../protocol/file-descriptor.js';
import { randomBytes } from '../crypto/nacl.js';
import { openSession } from './messaging.js';
import { fileTargets } from './file-targets.js';
import { warnExcluded } from './group-output.js';
import { crashAfter, formatBytes, transferProgress } from './transfer-progress.js';
import type { CommandContext } from './commands/index.js';

export async function sendFiles(ctx: CommandContext, name: string, files: string[], words: string[], stdinName: string | undefined): Promise<void> {
  const text = words.join(' ');
  if (new TextEncoder().encode(text).length > MAX_FILE_TEXT_BYTES) {
    throw new UsageError('MESSAGE_TOO_LARGE', `the text sent with a file is limited to ${MAX_FILE_TEXT_BYTES} bytes`, { hint: 'send long text as its own message' });
  }
  if (text.includes('\u0000')) throw new UsageError('NOT_UTF8', 'the text contains a NUL byte', { hint: 'hush sends text only' });
  const stdinCount = files.filter((f) => f === '-').length;
  if (stdinCount > 1) throw new UsageError('STDIN_TWICE', '--file - (stdin) can be given only once', { hint: 'save the other stream to a file first' });
  if (stdinCount === 1 && (stdinName === undefined || stdinName.trim() === '')) {
    throw new UsageError('STDIN_NEEDS_NAME', '--file - reads stdin, which has no name', { hint: 'give the name the recipient sees with --name, e.g. --name report.pdf' });
  }
  const s = await openSession(ctx);
  try {
    const target = await fileTargets(s.m, s.unlocked.identity.signPk, name);
    if (target.fan) warnExcluded(ctx.out, target.fan);
    const to = target.contacts.map((c) => c.signPk);
    // Resuming an interrupted upload is kept for one recipient (the state names it, §11.4).
    const resumeFor = target.fan === undefined ? target.contacts[0]! : undefined;
    const client = await s.m.client();
    const crash = crashAfter(ctx.env, 'send');
    const states = new UploadStates(s.paths.home, s.unlocked.identity.historyKey);
    const pipe = s.m.sendPipeline();
    const announced: { ids: string[]; name: string; size: number; sha256: string; resumed: number }[] = [];
    for (const [k, path] of files.entries()) {
      let src: ChunkSource;
      let shown: string;
      if (path === '-') {
        // stdin has no size to announce up front: it is spooled first, sealed (src/client/blob-transfer.ts).
        const dir = join(s.paths.home, 'tmp');
        await mkdir(dir, { recursive: true, mode: 0o700 });
        src = await spooledSource(process.stdin as AsyncIterable<Buffer>, join(dir, `stdin-${toHex(randomBytes(8))}.spool`));
        shown = sanitiseFileName(stdinName!);
      } else {
        src = await fileSource(path);
        shown = sanitiseFileName(path);
      }
      // A file whose upload to this contact was interrupted resumes where the relay stopped.
      const source = path === '-' || resumeFor === undefined ? undefined : await sourceId(path);
      const known = source === undefined ? undefined : await states.find(s.m.relay, resumeFor!.signPk, source);
      let stateFile = known?.file;
      const bar = transferProgress(ctx.out, 'send', shown);
      let up;
      // The file message goes out as the upload begins (the file hashed first), so the recipient
      // can save while it runs (§7.9 "Streaming"); a resumed upload whose message went out in
      // the interrupted run does not send it again.
      let ids: string[] = [];
      let blobId: string | undefined;
      const onReady = async (d: UploadResult['descriptor']): Promise<void> => {
        blobId = toHex(d.blob);
        if (known && known.announced.length > 0 && known.blob === blobId) {
          ids = known.announced;
          return;
        }
        const body = encodeFileBody({ ...d, name: shown, ...(k === 0 && text !== '' ? { text } : {}) });
        // One copy of the file message per recipient (a group's members: the fan-out), each sealed pairwise.
        const queued = target.contacts.map((c) => s.m.queueMessages(c, [body])[0]!);
        ids = queued.map((q) => toHex(q.msgId));
        if (stateFile !== undefined) await states.markAnnounced(stateFile, ids); // in the outbox: a resume must not send it again
        for (const q of queued) await pipe.submit(q);
      };
      try {
        const onBegun = async (blob: string, key: Uint8Array): Promise<void> => {
          if (source !== undefined) stateFile = await states.save(s.m.relay, resumeFor!.signPk, source, src.size, blob, key);
        };
        const onProgress = (d: number, t: number): void => {
          bar.update(d, t);
          crash(d);
        };
        try {
          up = await uploadFile(client, src, to, { onProgress, onBegun, onReady, ...(known ? { resume: known } : {}) });
        } catch (e) {
          if (!known || !(e instanceof RelayError) || e.code !== 'NOT_FOUND' || blobId !== undefined) throw e;
          await states.remove(known.file); // expired or deleted on the relay before anything was sent: start over
          src = await fileSource(path);
          up = await uploadFile(client, src, to, { onProgress, onBegun, onReady });
        }
      } catch (e) {
        // Announced, but the upload cannot be resumed (stdin, a group, a file that changed): the
        // blob is deleted, so the recipients' save fails at once (FILE_GONE) instead of waiting.
        if (blobId !== undefined && (stateFile === undefined || (e instanceof DataError && e.code === 'FILE_CHANGED'))) {
          await client.blobDelete(blobId).catch(() => undefined);
          if (stateFile !== undefined) await states.remove(stateFile);
        }
        throw e;
      } finally {
        bar.end();
      }
      if (stateFile !== undefined) await states.remove(stateFile); // uploaded and announced: nothing to resume
      announced.push({ ids, name: shown, size: up.descriptor.size, sha256: toHex(up.descriptor.sha256), resumed: up.resumed });
    }
    const r = await pipe.drain();
    if (r.failed.length > 0) {
      const first = r.failed[0]!.error;
      throw new RelayError(
        first instanceof RelayError ? first.code : 'SEND_FAILED',
        `the file was uploaded but its message was not accepted: ${first.message}; it is kept in the outbox`,
        {
          hint: 'it will go out with the next hush send, pull or listen',
          cause: first,
        },
      );
    }
    const members = target.contacts.map((c) => c.label);
    for (const a of announced) {
      const who = target.fan ? { members, ids: a.ids } : { id: a.ids[0] };
      if (ctx.out.json) ctx.out.data({ event: 'file-sent', to: target.label, ...who, name: a.name, size: a.size, sha256: a.sha256, resumed: a.resumed }, '');
      else ctx.out.info(`sent ${a.name} (${formatBytes(a.size)}) to ${target.label}${target.fan ? ` (${members.join(', ')})` : ''}`);
    }
    await s.m.syncTokens();
  } finally {
    await s.close();
  }
}
