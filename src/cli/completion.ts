/**
 * Shell completion scripts for bash, zsh and fish, generated from the command table
 * (./commands/index.ts) and the global options (./global-options.ts), so they never drift
 * from what hush accepts. Completes command names, each command's options, the global
 * options, directories after --home and files after --passphrase-file / --new-passphrase-file.
 * Contact names are not completed: listing them needs the passphrase.
 */
import type { CommandSpec, OptSpec } from './commands/index.js';
import type { GlobalOptionSpec } from './global-options.js';

export type Shell = 'bash' | 'zsh' | 'fish';
export const SHELLS: readonly Shell[] = ['bash', 'zsh', 'fish'];

interface Flag {
  /** Every spelling: ['-f', '--force']. */
  names: string[];
  description: string;
  /** undefined: takes no value. */
  value?: 'dir' | 'file' | 'text';
}

function parseFlags(flags: string, description: string, value?: Flag['value']): Flag {
  const names = flags.split(/[ ,]+/).filter((w) => w.startsWith('-'));
  const takesValue = /[<[]/.test(flags);
  const v = takesValue ? (value ?? (/file|path/.test(flags) ? 'file' : 'text')) : undefined;
  return { names, description, ...(v ? { value: v } : {}) };
}

interface Model {
  commands: { name: string; summary: string; flags: Flag[]; passThrough: boolean }[];
  globals: Flag[];
}

function model(commands: readonly CommandSpec[], globals: readonly GlobalOptionSpec[]): Model {
  const help = parseFlags('-h, --help', 'show help');
  return {
    commands: [
      ...commands.map((c) => ({
        name: c.name,
        summary: c.summary,
        flags: [...(c.options ?? []).map((o: OptSpec) => parseFlags(o.flags, o.description)), help],
        passThrough: c.passThrough === true,
      })),
      { name: 'help', summary: 'show help for a command', flags: [], passThrough: false },
    ],
    globals: [...globals.map((g) => parseFlags(g.flags, g.description, g.value)), help, parseFlags('-v, --version', 'print the version')],
  };
}

const sq = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

function bash(m: Model): string {
  const valued = (flags: Flag[], kind: Flag['value']): string[] => flags.filter((f) => f.value === kind).flatMap((f) => f.names);
  const all = [...m.globals, ...m.commands.flatMap((c) => c.flags)];
  const uniq = (xs: string[]): string => [...new Set(xs)].join('|');
  const cases = m.commands
    .filter((c) => c.name !== 'help' && c.name !== 'completion')
    .map(
      (c) =>
        `    ${c.name}) opts=${sq(
          c.passThrough
            ? ''
            : c.flags
                .filter((f) => !f.names.includes('--help'))
                .flatMap((f) => f.names)
                .join(' '),
        )} ;;`,
    )
    .join('\n');
  const prevCases = (
    [
      ['dir', 'COMPREPLY=($(compgen -d -- "$cur"))'],
      ['file', 'COMPREPLY=($(compgen -f -- "$cur"))'],
      ['text', 'COMPREPLY=()'],
    ] as const
  )
    .filter(([kind]) => valued(all, kind).length > 0)
    .map(([kind, action]) => `    ${uniq(valued(all, kind))}) ${action}; return ;;`)
    .join('\n');
  const globalWithValue = uniq(m.globals.filter((f) => f.value).flatMap((f) => f.names));
  return `# bash completion for hush. Add to ~/.bashrc:
#   eval "$(hush completion bash)"
_hush() {
  local cur prev cmd="" opts i
  cur="\${COMP_WORDS[COMP_CWORD]}"
  prev="\${COMP_WORDS[COMP_CWORD-1]}"
  local commands=${sq(m.commands.map((c) => c.name).join(' '))}
  local globals=${sq(m.globals.flatMap((f) => f.names).join(' '))}
  for ((i = 1; i < COMP_CWORD; i++)); do
    case "\${COMP_WORDS[i]}" in
      ${globalWithValue}) ((i++)) ;;
      -*) ;;
      *) cmd="\${COMP_WORDS[i]}"; break ;;
    esac
  done
  case "$prev" in
${prevCases}
  esac
  case "$cmd" in
    "") if [[ "$cur" == -* ]]; then opts="$globals"; else opts="$commands"; fi ;;
    help) opts="$commands" ;;
    completion) opts=${sq('bash zsh fish')} ;;
${cases}
  esac
  case "$cmd" in
    ""|help|completion|relay) ;;
    *) [[ "$cur" == -* ]] && opts="$opts $globals" ;;
  esac
  COMPREPLY=($(compgen -W "$opts" -- "$cur"))
}
complete -o default -F _hush hush
`;
}

/** One zsh _arguments spec per spelling of a flag. */
function zshSpecs(f: Flag): string[] {
  const desc = f.description.replace(/[[\]:\\]/g, (ch) => `\\${ch}`);
  const action = f.value === 'dir' ? ':dir:_files -/' : f.value === 'file' ? ':file:_files' : f.value === 'text' ? ':value: ' : '';
  const excl = f.names.length > 1 ? `(${f.names.join(' ')})` : '';
  return f.names.map((n) => sq(`${excl}${n}[${desc}]${action}`));
}

function zsh(m: Model): string {
  const describe = m.commands.map((c) => `    ${sq(`${c.name}:${c.summary.replace(/:/g, '\\:')}`)}`).join('\n');
  const globals = m.globals.filter((f) => !f.names.includes('--version')).flatMap(zshSpecs);
  const cases = m.commands
    .map((c) => {
      if (c.name === 'help') return `    help) _describe 'command' commands ;;`;
      if (c.name === 'completion') return `    completion) _values 'shell' bash zsh fish ;;`;
      if (c.passThrough) return `    ${c.name}) _files ;;`;
      return `    ${c.name}) _arguments -s "\${globals[@]}" ${c.flags
        .filter((f) => !f.names.includes('--help'))
        .flatMap(zshSpecs)
        .join(' ')} '*: :_files' ;;`;
    })
    .join('\n');
  return `#compdef hush
# zsh completion for hush. Add to ~/.zshrc (after compinit):
#   source <(hush completion zsh)
# or save it as _hush in a directory of your $fpath.
_hush() {
  local -a commands globals
  local curcontext="$curcontext" state line
  commands=(
${describe}
  )
  globals=(
    ${globals.join('\n    ')}
  )
  _arguments -C "\${globals[@]}" '(- *)'{-v,--version}'[print the version]' '1: :->command' '*:: :->args'
  case $state in
    command) _describe 'command' commands ;;
    args)
      case $words[1] in
${cases}
      esac
      ;;
  esac
}
if [ "$funcstack[1]" = "_hush" ]; then
  _hush "$@"
else
  compdef _hush hush
fi
`;
}

function fishLine(f: Flag, condition: string): string {
  const parts = ['complete -c hush'];
  if (condition) parts.push(`-n ${sq(condition)}`);
  for (const n of f.names) parts.push(n.startsWith('--') ? `-l ${n.slice(2)}` : `-s ${n.slice(1)}`);
  if (f.value === 'file') parts.push('-r -F');
  else if (f.value === 'dir') parts.push(`-r -a ${sq('(__fish_complete_directories)')}`);
  else if (f.value === 'text') parts.push('-x');
  parts.push(`-d ${sq(f.description)}`);
  return parts.join(' ');
}

function fish(m: Model): string {
  const lines = ['# fish completion for hush. Save it where fish finds it:', '#   hush completion fish > ~/.config/fish/completions/hush.fish', 'complete -c hush -f'];
  const names = m.commands.map((c) => c.name).join(' ');
  for (const c of m.commands) lines.push(`complete -c hush -n ${sq(`not __fish_seen_subcommand_from ${names}`)} -a ${c.name} -d ${sq(c.summary)}`);
  for (const g of m.globals) lines.push(fishLine(g, ''));
  for (const c of m.commands) {
    const cond = `__fish_seen_subcommand_from ${c.name}`;
    if (c.name === 'help') lines.push(`complete -c hush -n ${sq(cond)} -a ${sq(names)}`);
    else if (c.name === 'completion') lines.push(`complete -c hush -n ${sq(cond)} -a ${sq('bash zsh fish')}`);
    if (c.passThrough) continue;
    for (const f of c.flags) if (!f.names.includes('--help')) lines.push(fishLine(f, cond));
  }
  return lines.join('\n') + '\n';
}

/** The completion script for `shell`. */
export function completionScript(shell: Shell, commands: readonly CommandSpec[], globals: readonly GlobalOptionSpec[]): string {
  const m = model(commands, globals);
  return shell === 'bash' ? bash(m) : shell === 'zsh' ? zsh(m) : fish(m);
}
