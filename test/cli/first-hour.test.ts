// The first hour with hush (issue #11): help and version, next-step lines, errors in words.
import { describe, expect, it } from 'vitest';
import { hush } from './helpers.js';

describe('help and version', () => {
  it('hush help CMD prints that command’s help on stdout and exits 0', async () => {
    const r = await hush(['help', 'send']);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/^Usage: hush send \[options\] <name> \[text\.\.\.\]/);
    expect(r.stderr).toBe('');
  });

  it('plain hush help prints the command list and exits 0', async () => {
    const r = await hush(['help']);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/^Usage: hush \[options\] \[command\]/);
    expect(r.stdout).toContain('completion');
    expect(r.stderr).toBe('');
  });

  it('hush help with an unknown command is still a usage error', async () => {
    const r = await hush(['help', 'nope']);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toBe("hush: error: unknown command 'nope'\nhush: hint: run hush --help to see the commands\n");
  });

  it.each([['version'], ['--version'], ['-v'], ['-V']])('hush %s prints the version and exits 0', async (flag) => {
    const r = await hush([flag]);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/^\d+\.\d+\.\d+\S*\n$/);
    expect(r.stderr).toBe('');
  });
});
