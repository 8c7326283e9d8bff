// JavaScript: jest loads its test sequencer without a transform.
const Sequencer = require("@jest/test-sequencer").default;

/**
 * The longest files of the fast layer. On a run without timings, a fresh clone's first (jest keys them by the
 * project's path), jest guesses by file size, and would start etcd's drills, a short file that mostly waits, among
 * the last: the layer then ends on them. A hint for the order only: a stale entry never changes an outcome.
 */
const LONGEST_FIRST = ["bootstrap/rollout-sandbox", "bootstrap/control-plane-sandbox", "etcd/etcd", "plan/offline-plan"].map((file) => `/__tests__/${file}.test.ts`);

/** Jest's order (the slowest files of the last run first), or, with no timings yet, LONGEST_FIRST first. */
class LongestFirst extends Sequencer {
  async sort(tests) {
    const sorted = await super.sort(tests);
    if (sorted.some((test) => this._getCache(test)[test.path])) return sorted;
    const rank = (test) => {
      const index = LONGEST_FIRST.findIndex((end) => test.path.endsWith(end));
      return index < 0 ? LONGEST_FIRST.length : index;
    };
    // A stable sort: the other files keep jest's order.
    return [...sorted].sort((a, b) => rank(a) - rank(b));
  }
}

module.exports = LongestFirst;
