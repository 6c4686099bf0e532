// The events a client emits (signedIn, refreshed, signedOut). A listener that
// throws neither stops the others nor the sign-in, refresh or sign-out that
// fired it.
import type { AuthEvents, Listener } from './types.ts'

export class Events {
  private listeners: { [K in keyof AuthEvents]: Set<Listener<K>> } = { signedIn: new Set(), refreshed: new Set(), signedOut: new Set() }

  on<K extends keyof AuthEvents> (event: K, listener: Listener<K>): () => void {
    const set = this.listeners[event] as Set<Listener<K>>
    set.add(listener)
    return () => { set.delete(listener) }
  }

  emit<K extends keyof AuthEvents> (event: K, payload: AuthEvents[K]): void {
    for (const listener of this.listeners[event] as Set<Listener<K>>) {
      try { listener(payload) } catch {}
    }
  }
}
