/**
 * Progress of a file transfer: on a terminal (stderr, not with --json) one line redrawn at most
 * 10 times a second, `report.pdf  12.0 MiB / 100 MiB  45.1 MiB/s  ETA 2 s`, erased at the end;
 * with --json one NDJSON line per second on stdout,
 * {"event":"progress","op":"send"|"save","name":…,"bytes":…,"total":…,"rate":…} (rate in bytes
 * per second), plus one at 100 %. Nothing on a pipe without --json.
 */
import type { Output } from './output.js';

/** `2.1 MiB`, `512 B`: binary units, one decimal from KiB up. */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(1)} ${units[u]}`;
}

export interface TransferProgress {
  update(done: number, total: number): void;
  /** Erases the terminal line (and prints the final JSON line if not yet printed). */
  end(): void;
}

export function transferProgress(out: Output, op: 'send' | 'save', name: string, stream: NodeJS.WriteStream = process.stderr): TransferProgress {
  const started = Date.now();
  let lastDraw = 0;
  let lastJson = 0;
  let drawn = false;
  let last = { done: 0, total: 0 };
  let finalSent = false;
  const rate = (done: number): number => {
    const secs = (Date.now() - started) / 1000;
    return secs > 0 ? Math.round(done / secs) : 0;
  };
  const tty = !out.json && stream.isTTY === true;
  return {
    update(done, total) {
      last = { done, total };
      const now = Date.now();
      if (out.json) {
        const complete = done >= total;
        if ((now - lastJson >= 1000 && done > 0) || (complete && !finalSent)) {
          lastJson = now;
          if (complete) finalSent = true;
          out.data({ event: 'progress', op, name, bytes: done, total, rate: rate(done) }, '');
        }
        return;
      }
      if (!tty || now - lastDraw < 100) return;
      lastDraw = now;
      const r = rate(done);
      const eta = r > 0 && done < total ? ` ETA ${Math.ceil((total - done) / r)} s` : '';
      stream.write(`\r\x1b[2K${name}  ${formatBytes(done)} / ${formatBytes(total)}  ${formatBytes(r)}/s${eta}`);
      drawn = true;
    },
    end() {
      if (out.json && !finalSent && last.total > 0 && last.done >= last.total)
        out.data({ event: 'progress', op, name, bytes: last.done, total: last.total, rate: rate(last.done) }, '');
      if (drawn) stream.write('\r\x1b[2K');
    },
  };
}

/**
 * Test hook (the kill -9 resume tests): with HUSH_TEST_CRASH=send-after=N or save-after=N the
 * process kills itself (SIGKILL) once N bytes of a file went through.
 */
export function crashAfter(env: NodeJS.ProcessEnv, op: 'send' | 'save'): (done: number) => void {
  const m = new RegExp(`^${op}-after=(\\d+)$`).exec(env.HUSH_TEST_CRASH ?? '');
  if (!m) return () => undefined;
  const limit = Number(m[1]);
  return (done) => {
    if (done >= limit) process.kill(process.pid, 'SIGKILL');
  };
}
