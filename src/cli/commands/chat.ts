import { UsageError } from '../../errors.js';
import type { CommandRun } from './index.js';

export const run: CommandRun = async () => {
  throw new UsageError('NOT_A_TTY', 'hush chat needs a terminal', { hint: 'use hush send and hush listen in scripts' });
};
