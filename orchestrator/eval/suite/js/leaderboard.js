// Leaderboard for the weekly coding challenge: scores, ranks and the top-N list.

'use strict';

class Leaderboard {
  constructor() {
    this.scores = new Map();
  }

  record(player, score) {
    if (!Number.isFinite(score) || score < 0) {
      throw new RangeError(`score must be a non-negative number, got ${score}`);
    }
    const best = this.scores.get(player);
    if (best === undefined || score > best) {
      this.scores.set(player, score);
    }
  }

  sortedScores() {
    return [...this.scores.values()].sort().reverse();
  }

  rankOf(player) {
    const score = this.scores.get(player);
    if (score === undefined) {
      return null;
    }
    return this.sortedScores().indexOf(score) + 1;
  }

  top(n) {
    return [...this.scores.entries()]
      .sort(([nameA, a], [nameB, b]) => b - a || nameA.localeCompare(nameB))
      .slice(0, n)
      .map(([player, score], i) => ({ rank: i + 1, player, score }));
  }

  reset() {
    this.scores.clear();
  }
}

module.exports = { Leaderboard };
