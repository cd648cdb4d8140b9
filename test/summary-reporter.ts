/**
 * Prints one plain closing line, "N passed, N failed, N skipped", after vitest's own
 * summary, so that CI tooling that reads only that line counts the run.
 */
import { writeSync } from 'node:fs';
import type { Reporter, TestModule } from 'vitest/node';

export default class SummaryReporter implements Reporter {
  onTestRunEnd(testModules: readonly TestModule[], unhandledErrors: readonly unknown[] = []): void {
    let passed = 0;
    let failed = 0;
    let skipped = 0;
    for (const m of testModules) {
      for (const t of m.children.allTests()) {
        const s = t.result().state;
        if (s === 'passed') passed++;
        else if (s === 'failed') failed++;
        else skipped++;
      }
      if (m.state() === 'failed' && [...m.children.allTests()].length === 0) failed++;
    }
    // An unhandled error fails the run (vitest exits non-zero); count it as a failure here too.
    failed += unhandledErrors.length;
    // Last of all, after vitest's own summary.
    process.once('exit', () => {
      writeSync(1, `\n${passed} passed, ${failed} failed, ${skipped} skipped\n`);
    });
  }
}
