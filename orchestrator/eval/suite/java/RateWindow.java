package com.example.metrics;

import java.util.ArrayDeque;
import java.util.Deque;
import java.util.function.LongSupplier;

/** Counts events in a sliding time window, e.g. failed logins in the last minute. */
public final class RateWindow {
    private final long windowMillis;
    private final LongSupplier clock;
    private final Deque<Long> events = new ArrayDeque<>();

    public RateWindow(long windowMillis, LongSupplier clock) {
        if (windowMillis <= 0) {
            throw new IllegalArgumentException("window must be positive: " + windowMillis);
        }
        this.windowMillis = windowMillis;
        this.clock = clock;
    }

    /** Records one event now. */
    public synchronized void record() {
        long now = clock.getAsLong();
        events.addLast(now);
        evictBefore(now - windowMillis);
    }

    /** Events within the last window, counting from now. */
    public synchronized int count() {
        evictBefore(clock.getAsLong() - windowMillis);
        return events.size();
    }

    /** Whether the count has reached the limit. */
    public synchronized boolean exceeds(int limit) {
        return count() >= limit;
    }

    private void evictBefore(long cutoff) {
        while (!events.isEmpty() && events.peekFirst() <= cutoff) {
            events.removeFirst();
        }
    }
}
