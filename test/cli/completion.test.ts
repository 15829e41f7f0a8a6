// hush completion bash|zsh|fish through the real binary: the bash script is valid (bash -n)
// and completes for real (its function run with COMP_WORDS set); zsh and fish are checked with
// their own shells when installed, and statically always.
import { execFileSync } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { hush, makeHome } from './helpers.js';

const COMMANDS = [
  'init',
  'whoami',
  'passwd',
  'unlock',
  'lock',
  'daemon',
  'relay',
  'register',
  'send',
  'files',
  'save',
  'pull',
  'listen',
  'history',
  'contacts',
  'verify',
  'trust',
  'chat',
  'group',
  'completion',
  'help',
];

function has(shell: string): boolean {
  try {
    execFileSync(shell, ['-c', 'true'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

async function script(shell: string): Promise<{ file: string; text: string }> {
  const r = await hush(['completion', shell]);
  expect(r.exitCode).toBe(0);
  expect(r.stderr).toBe('');
  const file = path.join(await makeHome('hush-completion-'), `hush.${shell}`);
  await fsp.writeFile(file, r.stdout);
  return { file, text: r.stdout };
}

describe('hush completion', () => {
  it('bash: valid syntax, and completes commands, options, global options and shells', async () => {
    const { file, text } = await script('bash');
    expect(text).toContain('eval "$(hush completion bash)"');
    expect((await execa('bash', ['-n', file], { reject: false })).exitCode).toBe(0);
    const complete = async (...words: string[]): Promise<string[]> => {
      const quoted = words.map((w) => `'${w}'`).join(' ');
      const r = await execa('bash', [
        '-c',
        `source '${file}'; COMP_WORDS=(hush ${quoted}); COMP_CWORD=${words.length}; _hush; printf '%s\\n' "\${COMPREPLY[@]}"; complete -p hush`,
      ]);
      return r.stdout.split('\n').filter((l) => l !== '');
    };
    expect(await complete('')).toEqual([...COMMANDS, 'complete -o default -F _hush hush']);
    expect(await complete('se')).toEqual(['send', 'complete -o default -F _hush hush']);
    expect(await complete('send', '--l')).toContain('--lines');
    const history = await complete('--json', 'history', '--');
    for (const o of ['--limit', '--since', '--no-read-receipts', '--home', '--relay', '--passphrase-file']) expect(history).toContain(o);
    expect(await complete('completion', 'z')).toContain('zsh');
    expect(await complete('help', 'ver')).toContain('verify');
  });

  it('zsh: a #compdef script naming every command and option', async () => {
    const { file, text } = await script('zsh');
    expect(text.startsWith('#compdef hush\n')).toBe(true);
    expect(text).toContain('compdef _hush hush');
    for (const c of COMMANDS) expect(text).toMatch(new RegExp(`^\\s+'${c}:`, 'm'));
    for (const o of ['--lines', '--no-read-receipts', '--new-passphrase-file', '--fingerprint', '--home', '--passphrase-fd']) expect(text).toContain(`'${o}[`);
    // Every single-quoted string is closed (the script is one balanced quoting).
    expect(text.replace(/'\\''/g, '').split("'").length % 2).toBe(1);
    if (has('zsh')) expect((await execa('zsh', ['-n', file], { reject: false })).exitCode).toBe(0);
  });

  it('fish: complete lines for every command and option', async () => {
    const { file, text } = await script('fish');
    expect(text).toContain('hush completion fish > ~/.config/fish/completions/hush.fish');
    for (const c of COMMANDS) expect(text).toMatch(new RegExp(`-a ${c} -d '`));
    expect(text).toContain("complete -c hush -n '__fish_seen_subcommand_from send' -l lines");
    expect(text).toContain("complete -c hush -n '__fish_seen_subcommand_from passwd' -l new-passphrase-file -r -F");
    expect(text).toContain("complete -c hush -l home -r -a '(__fish_complete_directories)'");
    for (const line of text.split('\n').filter((l) => l !== '' && !l.startsWith('#'))) expect(line).toMatch(/^complete -c hush /);
    if (has('fish')) expect((await execa('fish', ['--no-execute', file], { reject: false })).exitCode).toBe(0);
  });

  it('an unknown shell is a usage error naming the ones there are', async () => {
    const r = await hush(['completion', 'tcsh']);
    expect(r.exitCode).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe('hush: error: no completion for the shell "tcsh"\nhush: hint: choose one of bash, zsh, fish: hush completion bash\n');
  });
});
