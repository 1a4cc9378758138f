/**
 * Print the suite's totals as one plain line ("N passed, N failed, N skipped")
 * from vitest's JSON report, for CI logs that read a closing line.
 */
import { readFileSync } from 'node:fs';

const r = JSON.parse(readFileSync('build/test-results.json', 'utf8')) as { numPassedTests: number; numFailedTests: number; numPendingTests: number; numTodoTests: number };
console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed, ${r.numPendingTests + r.numTodoTests} skipped`);
process.exitCode = r.numFailedTests > 0 || r.numPassedTests === 0 ? 1 : 0;
