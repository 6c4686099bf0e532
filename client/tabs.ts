// Tabs of one origin: a Web Lock serializes refreshes (tabs share the
// rotating refresh cookie), and a BroadcastChannel hands new tokens and
// sign-outs to every tab. A lock held by a tab that crashed or was frozen
// must not hang the others: after a wait, the lock is stolen. Two refreshes
// overlapping then is safe: the service answers a refresh token shown again
// inside its grace window with the same successor.
import type { TokenState } from './types.ts'

export type TabMessage =
  | { type: 'tokens', state: TokenState }
  | { type: 'signedOut', reason: string }
  | { type: 'hello' }

interface LockManager {
  request: (name: string, options: { signal?: AbortSignal, steal?: boolean }, cb: () => Promise<void>) => Promise<void>
}

const LINGER_MS = 150
/** How long a tab waits for the others to answer its hello. */
const ASK_MS = 150
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

export class Tabs {
  private channel: BroadcastChannel
  private lockName: string
  private lockWaitMs: number
  private waiting: ((state: TokenState) => void) | undefined
  constructor (name: string, lockWaitMs: number, onMessage: (msg: TabMessage) => void) {
    this.lockName = `${name}:refresh`
    this.lockWaitMs = lockWaitMs
    this.channel = new BroadcastChannel(name)
    this.channel.onmessage = (event: MessageEvent) => {
      const msg = event.data as TabMessage
      if (msg.type === 'tokens') this.waiting?.(msg.state)
      onMessage(msg)
    }
  }

  /** Asks the other tabs for the tokens they hold: the first answer, or null after a moment. */
  async ask (): Promise<TokenState | null> {
    const answer = new Promise<TokenState | null>((resolve) => {
      this.waiting = resolve
      setTimeout(() => resolve(null), ASK_MS)
    })
    this.post({ type: 'hello' })
    try {
      return await answer
    } finally {
      this.waiting = undefined
    }
  }

  async exclusive<T> (fn: () => Promise<T>): Promise<T> {
    const locks = (globalThis as { navigator?: { locks?: LockManager } }).navigator?.locks
    if (locks === undefined) return await fn()
    return await new Promise<T>((resolve, reject) => {
      let started = false
      const held = async () => {
        started = true
        await sleep(0)
        try { resolve(await fn()) } catch (err) { reject(err) }
        // Our callers already have their answer; hold the lock a moment longer so
        // the token we broadcast reaches a tab waiting for the lock before it
        // decides whether to refresh again. Costs nothing when no tab waits.
        await sleep(LINGER_MS)
      }
      locks.request(this.lockName, { signal: AbortSignal.timeout(this.lockWaitMs) }, held).catch((err: Error) => {
        // Once our callback ran, its outcome is delivered (a lock stolen from us ends here too).
        if (started) return
        if (err?.name !== 'TimeoutError' && err?.name !== 'AbortError') { reject(err); return }
        // Waited too long: the holder crashed or is frozen. Take the lock from it.
        locks.request(this.lockName, { steal: true }, held).catch((e: Error) => { if (!started) reject(e) })
      })
    })
  }

  post (msg: TabMessage): void { this.channel.postMessage(msg) }
  close (): void { this.channel.close() }
}
