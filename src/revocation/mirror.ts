// The revocation list as each instance sees it: an in-memory mirror that the
// hot path reads with no network round trip. A backend spreads revocations to
// every instance (Redis: SET + PUBLISH; in-process: nothing to spread), and
// PostgreSQL holds the durable record: a full sync re-reads it, and every few
// seconds the mirror re-reads what changed there since, so a revocation whose
// push was lost still arrives.
//
// Entries, all exact (no clock comparison):
// - a session: every access token of that session is refused;
// - a user's minimum token version: every access token of the user issued
//   under a lower version (claim `ver`) is refused. Versions only grow;
// - a signing key (kid) revoked in an emergency: every token it signed is refused.
// A `key-set` message is no revocation: it tells every instance that the
// signing keys changed (a rotation), so that they re-read them now.
import { CLOCK_SKEW_MS } from '../tokens/claims.ts'
import { ServiceUnavailableError } from '../errors.ts'

/** `at`: when it was published (ms), to measure how long it took to arrive. */
export type RevocationEntry = (
  | { kind: 'session', id: string, until: number }
  | { kind: 'user', id: string, version: number, until: number }
  | { kind: 'key', id: string, until: number }
  | { kind: 'key-set', id: string, until: number }
) & { at?: number }

/** The claims a revocation check reads. `ver` is absent from tokens older than versions (read as 0). */
export interface RevocableClaims { sid: string, sub: string, ver?: number }

/** ACCESS_TOKEN_TTL's upper bound (config.ts). */
export const MAX_ACCESS_TOKEN_TTL = 86_400
// A revocation outlives every token it covers by five clock skews: keeping
// it a few minutes longer costs nothing, and a late verifier stays covered.
const REVOCATION_MARGIN_MS = 5 * CLOCK_SKEW_MS

/**
 * Until when a revocation made at `fromMs` must be kept: as long as any token
 * issued before it can live, whatever ACCESS_TOKEN_TTL another instance of a
 * rolling deploy uses and whatever their clocks say.
 */
export function revocationUntil (fromMs: number): number {
  return fromMs + MAX_ACCESS_TOKEN_TTL * 1000 + REVOCATION_MARGIN_MS
}

/** The oldest revocation that can still cover a live token. */
export function revocationHorizon (nowMs = Date.now()): Date {
  return new Date(nowMs - MAX_ACCESS_TOKEN_TTL * 1000 - REVOCATION_MARGIN_MS)
}

export interface RevocationBackend {
  name: string
  /** Stores the entry where every instance will find it and tells them now. */
  publish: (entry: RevocationEntry) => Promise<void>
  /** Every entry the backend holds. */
  load: () => Promise<RevocationEntry[]>
  /** Calls `up` each time the push channel is (re)established and `down` when it is lost. */
  start: (events: { entry: (e: RevocationEntry) => void, up: () => void, down: () => void }) => Promise<void>
  ping: () => Promise<void>
  close: () => Promise<void>
}

export interface RevocationListOptions {
  backend: RevocationBackend
  /** Revocations recorded in PostgreSQL at or after `since` (all that can matter when absent). */
  loadDurable: (since?: Date) => Promise<RevocationEntry[]>
  onStateChange?: (trusted: boolean, reason: string) => void
  resyncDelayMs?: number
  sweepIntervalMs?: number
  /** How often the durable record is re-read for changes (0: never). */
  pollIntervalMs?: number
}

type KeyListener = (kind: 'key' | 'key-set', kid: string) => void

// A re-read overlaps the previous one by this much: a revocation committed
// late (its timestamp is its transaction's start) is still read.
const POLL_OVERLAP_MS = 30_000

export function createRevocationList (opts: RevocationListOptions) {
  const { backend } = opts
  const sessions = new Map<string, number>()
  const users = new Map<string, { version: number, until: number }>()
  const keys = new Map<string, number>()
  const keyListeners: KeyListener[] = []
  const keyEvent: KeyListener = (kind, kid) => { for (const l of keyListeners) l(kind, kid) }
  // Observers for metrics; none by default.
  const hooks: { published?: (kind: RevocationEntry['kind']) => void, received?: (lagMs: number) => void } = {}
  let syncs = 0
  let trusted = false
  let since = Date.now()
  let generation = 0
  let closed = false
  let retry: NodeJS.Timeout | undefined
  let lastPoll = 0
  const waiters: Array<() => void> = []

  function apply (entry: RevocationEntry): void {
    if (entry.until <= Date.now()) return
    if (entry.kind === 'key-set') {
      keyEvent('key-set', entry.id)
    } else if (entry.kind === 'key') {
      const known = keys.has(entry.id)
      keys.set(entry.id, Math.max(entry.until, keys.get(entry.id) ?? 0))
      if (!known) keyEvent('key', entry.id)
    } else if (entry.kind === 'session') {
      sessions.set(entry.id, Math.max(entry.until, sessions.get(entry.id) ?? 0))
    } else {
      const prev = users.get(entry.id)
      if (prev === undefined || prev.version < entry.version) users.set(entry.id, { version: entry.version, until: Math.max(entry.until, prev?.until ?? 0) })
      else if (prev.until < entry.until) prev.until = entry.until
    }
  }

  function setTrusted (value: boolean, reason: string): void {
    if (trusted === value) return
    trusted = value
    since = Date.now()
    opts.onStateChange?.(value, reason)
    if (value) for (const w of waiters.splice(0)) w()
  }

  // Entries are only ever added (a revocation is never undone), so a sync can
  // merge into the live maps while pushed entries keep arriving.
  async function sync (): Promise<void> {
    const mine = ++generation
    clearTimeout(retry)
    try {
      const started = Date.now()
      const [remote, durable] = await Promise.all([backend.load(), opts.loadDurable()])
      if (mine !== generation || closed) return
      for (const e of remote) apply(e)
      for (const e of durable) apply(e)
      lastPoll = started
      syncs++
      setTrusted(true, 'synced')
    } catch {
      if (mine !== generation || closed) return
      retry = setTimeout(() => { sync().catch(() => {}) }, opts.resyncDelayMs ?? 1000)
      retry.unref()
    }
  }

  /** Reads what PostgreSQL recorded since the last read. A failure leaves the mirror as it is: verifying tokens does not need the database. */
  async function poll (): Promise<void> {
    if (!trusted || closed) return
    const started = Date.now()
    const entries = await opts.loadDurable(new Date(lastPoll - POLL_OVERLAP_MS))
    for (const e of entries) apply(e)
    lastPoll = started
  }

  function sweep (): void {
    const now = Date.now()
    for (const [id, until] of sessions) if (until <= now) sessions.delete(id)
    for (const [id, u] of users) if (u.until <= now) users.delete(id)
    for (const [id, until] of keys) if (until <= now) keys.delete(id)
  }
  const sweeper = setInterval(sweep, opts.sweepIntervalMs ?? 30_000)
  sweeper.unref()
  const poller = (opts.pollIntervalMs ?? 5000) > 0 ? setInterval(() => { poll().catch(() => {}) }, opts.pollIntervalMs ?? 5000) : undefined
  poller?.unref()

  async function publish (entry: RevocationEntry): Promise<void> {
    entry.at = Date.now()
    // Seen here before the response is sent, whatever the backend does.
    apply(entry)
    hooks.published?.(entry.kind)
    try {
      await backend.publish(entry)
    } catch {
      throw new ServiceUnavailableError()
    }
  }

  return {
    async start (): Promise<void> {
      await backend.start({
        entry (e) {
          if (e.at !== undefined) hooks.received?.(Math.max(0, Date.now() - e.at))
          apply(e)
        },
        up: () => { sync().catch(() => {}) },
        down: () => { generation++; setTrusted(false, 'push channel lost') }
      })
    },
    /** Resolves once the mirror can be trusted (or after `ms`). */
    waitUntilTrusted (ms: number): Promise<boolean> {
      if (trusted) return Promise.resolve(true)
      return new Promise((resolve) => {
        const t = setTimeout(() => resolve(trusted), ms)
        waiters.push(() => { clearTimeout(t); resolve(true) })
      })
    },
    get trusted () { return trusted },
    hooks,
    /** Full syncs so far (start-up included). */
    get syncs () { return syncs },
    /** When the mirror last became trusted or untrusted (ms). */
    get since () { return since },
    /**
     * Fails closed: while the mirror cannot be trusted, nothing is accepted.
     * Both kinds are always checked: a session entry says nothing of the user's version.
     */
    isRevoked (claims: RevocableClaims): boolean {
      if (!trusted) throw new ServiceUnavailableError()
      if (sessions.has(claims.sid)) return true
      const u = users.get(claims.sub)
      return u !== undefined && (claims.ver ?? 0) < u.version
    },
    /** Called when a signing key is revoked (once per kid) or the key set changed. */
    onKeyEvent (listener: KeyListener): void {
      keyListeners.push(listener)
    },
    /** A signing key revoked in an emergency: its tokens are refused whatever their claims. */
    isKeyRevoked (kid: string): boolean {
      if (!trusted) throw new ServiceUnavailableError()
      return keys.has(kid)
    },
    revokeKey (kid: string, until: number): Promise<void> {
      return publish({ kind: 'key', id: kid, until })
    },
    /** Tells every instance to re-read the signing keys now. */
    keysChanged (kid: string): Promise<void> {
      return publish({ kind: 'key-set', id: kid, until: Date.now() + 60_000 })
    },
    revokeSession (sid: string, until: number): Promise<void> {
      return publish({ kind: 'session', id: sid, until })
    },
    /** Refuses every token of the user issued under a version below `version`. */
    revokeUserBelow (userId: string, version: number, until: number): Promise<void> {
      return publish({ kind: 'user', id: userId, version, until })
    },
    size: () => ({ sessions: sessions.size, users: users.size, keys: keys.size }),
    sweep,
    /** Re-reads recent changes from the durable record now (the timer does it every few seconds). */
    poll,
    ping: () => backend.ping(),
    backendName: backend.name,
    /** The backend itself (its connections, for operations and tests). */
    backend,
    async close (): Promise<void> {
      closed = true
      clearInterval(sweeper)
      clearInterval(poller)
      clearTimeout(retry)
      await backend.close()
    }
  }
}

export type RevocationList = ReturnType<typeof createRevocationList>

/** Single instance only: revocations live in this process and in PostgreSQL. */
export function createMemoryBackend (): RevocationBackend {
  return {
    name: 'in-process',
    publish: async () => {},
    load: async () => [],
    start: async (events) => { events.up() },
    ping: async () => {},
    close: async () => {}
  }
}
