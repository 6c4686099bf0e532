// When a refresh runs by itself, with no call waiting for it: shortly before
// the access token expires, again after one that failed without a refusal
// (backing off), and when a page becomes visible or the network comes back.
import { AuthError } from './transport.ts'

/** Waits after a scheduled refresh failed without a refusal: 1 s, 2 s, 4 s … at most 30 s. */
const backoffMs = (failures: number) => Math.min(30_000, 1000 * 2 ** Math.max(0, failures - 1))

export class RefreshSchedule {
  private timer: ReturnType<typeof setTimeout> | undefined
  private failures = 0
  private refresh: (stale: string) => Promise<void>
  private signedIn: () => boolean

  /** `refresh` replaces the token `stale`; `signedIn` says whether there still is a session to keep. */
  constructor (refresh: (stale: string) => Promise<void>, signedIn: () => boolean) {
    this.refresh = refresh
    this.signedIn = signedIn
  }

  arm (dueMs: number, stale: string): void {
    clearTimeout(this.timer)
    this.timer = setTimeout(() => {
      this.refresh(stale).then(() => { this.failures = 0 }, (err) => {
        // Not refused (that signs out): try again later, while there is a session.
        if (!this.signedIn() || !(err instanceof AuthError) || err.code === 'SIGNED_OUT') return
        this.failures++
        this.arm(err.retryAfterMs ?? backoffMs(this.failures), stale)
      })
    }, dueMs)
    const t = this.timer as { unref?: () => void }
    t.unref?.() // never keep a Node process alive just to refresh
  }

  /** A new sign-in: failures of the session before it no longer count. */
  reset (): void { this.failures = 0 }

  stop (): void { clearTimeout(this.timer) }
}

/**
 * A page made visible again, or a network back: calls `wake` (which refreshes
 * if the token is near its end). Returns what stops watching.
 */
export function watchPage (wake: () => void): Array<() => void> {
  const g = globalThis as unknown as { document: Document, addEventListener?: (type: string, fn: () => void) => void, removeEventListener?: (type: string, fn: () => void) => void }
  const onWake = () => {
    if ((g.document.visibilityState ?? 'visible') === 'visible') wake()
  }
  const unwatch: Array<() => void> = []
  g.document.addEventListener('visibilitychange', onWake)
  unwatch.push(() => g.document.removeEventListener('visibilitychange', onWake))
  if (g.addEventListener !== undefined) {
    g.addEventListener('online', onWake)
    unwatch.push(() => g.removeEventListener?.('online', onWake))
  }
  return unwatch
}
