// A promise-based work queue that runs at most `concurrency` jobs at a time.

'use strict';

class WorkQueue {
  constructor(concurrency) {
    if (!Number.isInteger(concurrency) || concurrency < 1) {
      throw new RangeError(`concurrency must be a positive integer, got ${concurrency}`);
    }
    this.concurrency = concurrency;
    this.running = 0;
    this.waiting = [];
  }

  /** Runs `job` (a function returning a promise) when a slot is free; resolves to its result. */
  push(job) {
    return new Promise((resolve, reject) => {
      this.waiting.push({ job, resolve, reject });
      this.next();
    });
  }

  next() {
    while (this.running < this.concurrency && this.waiting.length > 0) {
      const { job, resolve, reject } = this.waiting.shift();
      this.running += 1;
      Promise.resolve()
        .then(job)
        .then(resolve, reject)
        .finally(() => {
          this.running -= 1;
          this.next();
        });
    }
  }

  get size() {
    return this.waiting.length;
  }

  get pending() {
    return this.running;
  }
}

module.exports = { WorkQueue };
