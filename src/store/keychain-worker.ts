/**
 * Child process that makes ONE keytar call for src/store/keychain.ts. keytar's native calls
 * (libsecret over D-Bus) run on libuv's thread pool and cannot be cancelled: a hung D-Bus
 * would keep the hush process alive even after giving up on the answer. In a child, a call
 * that does not answer in time is simply killed.
 *
 * Request (stdin, one JSON object; secrets never go on the command line):
 *   {"op":"get"|"set"|"delete","service":S,"account":S,"secret"?:S}
 * Response (stdout, one JSON line):
 *   {"ok":true,"value":string|null|boolean} | {"ok":false,"kind":"missing"|"failed","message":S}
 */
interface Keytar {
  getPassword(service: string, account: string): Promise<string | null>;
  setPassword(service: string, account: string, password: string): Promise<void>;
  deletePassword(service: string, account: string): Promise<boolean>;
}

interface Request {
  op: 'get' | 'set' | 'delete';
  service: string;
  account: string;
  secret?: string;
}

function reply(r: Record<string, unknown>): void {
  process.stdout.write(JSON.stringify(r) + '\n');
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of process.stdin as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > 64 * 1024) throw new Error('request too large');
    chunks.push(c);
  }
  return Buffer.concat(chunks).toString('utf8');
}

async function work(): Promise<void> {
  let req: Request;
  try {
    req = JSON.parse(await readStdin()) as Request;
    if (typeof req.service !== 'string' || typeof req.account !== 'string') throw new Error('bad request');
  } catch (e) {
    reply({ ok: false, kind: 'failed', message: `bad request to the keychain worker (${message(e)})` });
    return;
  }
  let k: Keytar;
  try {
    const name = 'keytar'; // a variable specifier: keytar is optional, its types may be absent
    const mod = (await import(name)) as { default?: Keytar } & Partial<Keytar>;
    k = (mod.default ?? mod) as Keytar;
    if (typeof k.getPassword !== 'function') throw new Error('keytar has no getPassword');
  } catch (e) {
    reply({ ok: false, kind: 'missing', message: message(e) });
    return;
  }
  try {
    let value: string | null | boolean;
    if (req.op === 'get') value = await k.getPassword(req.service, req.account);
    else if (req.op === 'set') {
      if (typeof req.secret !== 'string') throw new Error('set without a secret');
      await k.setPassword(req.service, req.account, req.secret);
      value = true;
    } else if (req.op === 'delete') value = await k.deletePassword(req.service, req.account);
    else throw new Error('unknown op');
    reply({ ok: true, value });
  } catch (e) {
    reply({ ok: false, kind: 'failed', message: message(e) });
  }
}

await work();
