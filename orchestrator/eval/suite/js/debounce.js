// Debounce and throttle helpers for the search box and the window resize handler.

'use strict';

/**
 * Returns a function that calls `fn` once `waitMs` have passed without another call.
 * The last call's arguments win. `cancel()` drops a pending call.
 */
function debounce(fn, waitMs) {
  let timer = null;
  let lastArgs = null;

  function debounced(...args) {
    lastArgs = args;
    timer = setTimeout(() => {
      timer = null;
      fn.apply(this, lastArgs);
    }, waitMs);
  }

  debounced.cancel = () => {
    if (timer !== null) {
      clearTimeout(timer);
      timer = null;
    }
  };
  return debounced;
}

/** Calls `fn` at most once every `intervalMs`, on the leading edge. */
function throttle(fn, intervalMs) {
  let last = -Infinity;
  return function throttled(...args) {
    const now = Date.now();
    if (now - last >= intervalMs) {
      last = now;
      return fn.apply(this, args);
    }
    return undefined;
  };
}

function attachSearch(input, search) {
  const run = debounce((value) => search(value.trim()), 250);
  input.addEventListener('input', (event) => run(event.target.value));
  return () => run.cancel();
}

module.exports = { debounce, throttle, attachSearch };
