/**
 * The order in which vitest starts test files: longest first, by the durations of a recent full
 * run in test/durations.json (seconds; a file not listed counts as 30 s). With four files at a
 * time on two cores, starting the long files first keeps one of them from running alone at the
 * end. vitest's own order needs its results cache, which a fresh clone (CI) does not have: there
 * it fell back to file size and the suite took ~45 s longer. Refresh the table after a full run
 * when files are added or grow (`npm test -- --reporter=json`, or copy the per-file times).
 */
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

const TYPICAL = JSON.parse(readFileSync(new URL('./durations.json', import.meta.url), 'utf8')) as Record<string, number>;
const UNLISTED_S = 30;

export class SlowFirst extends BaseSequencer {
  override sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const root = this.ctx.config.root;
    const est = (f: TestSpecification): number => TYPICAL[relative(root, f.moduleId).split('\\').join('/')] ?? UNLISTED_S;
    return Promise.resolve([...files].sort((a, b) => est(b) - est(a)));
  }
}
