// Caches API responses in memory, evicting the least recently used entry when full.

export interface CachedResponse {
  status: number;
  body: string;
  storedAt: number;
}

export class ResponseCache {
  private readonly entries = new Map<string, CachedResponse>();

  constructor(
    private readonly capacity: number,
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {
    if (capacity < 1) {
      throw new RangeError(`capacity must be at least 1, got ${capacity}`);
    }
  }

  get(key: string): CachedResponse | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined) {
      return undefined;
    }
    if (this.now() - entry.storedAt > this.ttlMs) {
      this.entries.delete(key);
      return undefined;
    }
    // Re-insert so that iteration order stays least recently used first.
    this.entries.delete(key);
    this.entries.set(key, entry);
    return entry;
  }

  set(key: string, status: number, body: string): void {
    this.entries.delete(key);
    if (this.entries.size >= this.capacity - 1) {
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) {
        this.entries.delete(oldest);
      }
    }
    this.entries.set(key, { status, body, storedAt: this.now() });
  }

  get size(): number {
    return this.entries.size;
  }
}
