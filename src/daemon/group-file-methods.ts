/**
 * The group and file methods of `hush daemon` (docs/RPC.md, "Groups" and "Files"): like the
 * other methods (./methods.ts), each runs the CLI command file (`hush group`, `hush files`,
 * `hush save`) with --json in the daemon and returns its JSON lines.
 *
 * Paths are the caller's: the daemon runs as the same user, but not in the caller's working
 * directory, so a path must be absolute (a relative one is -32602, never resolved against the
 * daemon's directory).
 */
import { isAbsolute } from 'node:path';
import { bool, int, onlyKeys, str, strList } from './rpc.js';
import { byEvent, invalid, type Method, runJson } from './run-json.js';

/** A path parameter: absolute (the daemon does not share the caller's working directory). */
export function absolutePath(key: string, v: string): string {
  if (v === '' || !isAbsolute(v)) throw invalid(`"${key}" must be an absolute path (the daemon does not know your working directory): ${JSON.stringify(v.slice(0, 80))}`);
  return v;
}

function members(params: Record<string, unknown>): string[] {
  const m = strList(params, 'members');
  if (m === undefined || m.length === 0) throw invalid('"members" must be a non-empty array of contact names');
  return m;
}

/** groups.create / groups.add / groups.remove / groups.leave: the `group` line, plus what went out. */
function change(action: 'create' | 'add' | 'remove' | 'leave'): Method {
  return async ({ daemon, params }) => {
    const takesMembers = action !== 'leave';
    const withMax = action === 'create' || action === 'add';
    onlyKeys(params, ['name', ...(takesMembers ? ['members'] : []), ...(withMax ? ['maxMembers'] : [])]);
    const name = str(params, 'name', true);
    const list = takesMembers ? members(params) : [];
    const max = withMax ? int(params, 'maxMembers', 2, 1000) : undefined;
    const out = await runJson(daemon, 'group', { action, group: name, members: list }, max === undefined ? {} : { maxMembers: String(max) });
    return { ...out.find((l) => l.event === 'group'), sent: byEvent(out, 'sent') };
  };
}

const groupsList: Method = async ({ daemon, params }) => {
  onlyKeys(params, []);
  return { groups: await runJson(daemon, 'group', { action: 'list', members: [] }, {}) };
};

const groupsShow: Method = async ({ daemon, params }) => {
  onlyKeys(params, ['name']);
  return { members: await runJson(daemon, 'group', { action: 'show', group: str(params, 'name', true), members: [] }, {}) };
};

const filesList: Method = async ({ daemon, params }) => {
  onlyKeys(params, ['name']);
  const name = str(params, 'name');
  return { files: await runJson(daemon, 'files', name === undefined ? {} : { name }, {}) };
};

const filesSave: Method = async ({ daemon, params }) => {
  onlyKeys(params, ['id', 'output', 'force']);
  const id = str(params, 'id', true);
  const output = absolutePath('output', str(params, 'output', true)!);
  const force = bool(params, 'force') === true;
  const out = await runJson(daemon, 'save', { id }, { output, ...(force ? { force: true } : {}) });
  const saved = out.find((l) => l.event === 'saved');
  if (!saved) throw new Error('save printed no saved line');
  return saved;
};

export const GROUP_FILE_METHODS: Record<string, Method> = {
  'groups.create': change('create'),
  'groups.add': change('add'),
  'groups.remove': change('remove'),
  'groups.leave': change('leave'),
  'groups.list': groupsList,
  'groups.show': groupsShow,
  'files.list': filesList,
  'files.save': filesSave,
};
