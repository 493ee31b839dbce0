/**
 * A jest reporter: the verdict of `npm run test:apollo`. Apollo's suite runs in the same job
 * without the plugin (mode `none`) and with it (`identified`, `anonymous`), per transport; every
 * test that passes without the plugin must pass with it, and every mode must run the same tests.
 * Prints the counts of each run; fails the run otherwise.
 */
import path from 'node:path';

export default class SameAsWithoutPlugin {
  #error;

  onRunComplete(_contexts, results) {
    /** transport -> mode -> (test name -> status) */
    const runs = new Map();
    for (const file of results.testResults) {
      const [transport, mode] = path.basename(file.testFilePath).split('.');
      if (!runs.has(transport)) runs.set(transport, new Map());
      const statuses = new Map(file.testResults.map((test) => [test.fullName, test.status]));
      if (file.testExecError) statuses.set('(the test file itself)', 'failed');
      runs.get(transport).set(mode, statuses);
    }
    const problems = [];
    for (const [transport, modes] of [...runs].sort()) {
      const baseline = modes.get('none');
      if (!baseline) {
        problems.push(`${transport}: no run without the plugin to compare with`);
        continue;
      }
      for (const mode of ['none', 'identified', 'anonymous']) {
        const statuses = modes.get(mode);
        if (!statuses) {
          problems.push(`${transport}: mode ${mode} did not run`);
          continue;
        }
        const count = (status) => [...statuses.values()].filter((s) => s === status).length;
        console.log(
          `apollo suite, ${transport}, ${mode === 'none' ? 'without the plugin' : `plugin, ${mode}`}: ` +
            `${count('passed')} passed, ${count('failed')} failed, ${count('pending') + count('skipped') + count('todo')} skipped, ${statuses.size} in all`,
        );
        if (mode === 'none') continue;
        if (statuses.size !== baseline.size) {
          problems.push(`${transport} ${mode}: ${statuses.size} tests, without the plugin ${baseline.size}`);
        }
        for (const [name, status] of baseline) {
          if (status === 'passed' && statuses.get(name) !== 'passed') {
            problems.push(
              `${transport} ${mode}: "${name}" passes without the plugin, ${statuses.get(name) ?? 'missing'} with it`,
            );
          }
        }
      }
    }
    if (problems.length) {
      this.#error = new Error(`Apollo's suite differs with the plugin installed:\n  ${problems.join('\n  ')}`);
      console.error(this.#error.message);
    }
  }

  getLastError() {
    return this.#error;
  }
}
