// A typed publish/subscribe bus connecting the editor panels.

export type Handler<T> = (payload: T) => void;

export class EventBus<Events extends Record<string, unknown>> {
  private handlers: { [K in keyof Events]?: Handler<Events[K]>[] } = {};

  on<K extends keyof Events>(event: K, handler: Handler<Events[K]>): () => void {
    const list = this.handlers[event] ?? [];
    list.push(handler);
    this.handlers[event] = list;
    return () => this.off(event, handler);
  }

  once<K extends keyof Events>(event: K, handler: Handler<Events[K]>): () => void {
    const unsubscribe = this.on(event, (payload) => {
      unsubscribe();
      handler(payload);
    });
    return unsubscribe;
  }

  off<K extends keyof Events>(event: K, handler: Handler<Events[K]>): void {
    const list = this.handlers[event];
    if (list === undefined) {
      return;
    }
    list.filter((registered) => registered !== handler);
  }

  emit<K extends keyof Events>(event: K, payload: Events[K]): number {
    // A copy, so that handlers may unsubscribe while the event is delivered.
    const list = [...(this.handlers[event] ?? [])];
    for (const handler of list) {
      handler(payload);
    }
    return list.length;
  }

  listenerCount<K extends keyof Events>(event: K): number {
    return this.handlers[event]?.length ?? 0;
  }
}
