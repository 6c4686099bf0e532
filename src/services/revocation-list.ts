// The revocation list as each instance sees it: an in-memory mirror that the
// hot path reads with no network round trip. A backend spreads revocations to
// every instance (Redis: SET + PUBLISH; in-process: nothing to spread), and
// PostgreSQL holds the durable record that a full sync always re-reads, so a
// revocation outlives a Redis that comes back empty.
import { ServiceUnavailableError } from '../errors.ts'

export type RevocationEntry =
  | { kind: 'session', id: string, until: number }
  /** Tokens of the user issued (iat, in ms) before `before` are revoked. */
  | { kind: 'user', id: string, before: number, until: number }

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
  /** Revocations recorded in PostgreSQL that may still cover a live token. */
  loadDurable: () => Promise<RevocationEntry[]>
  onStateChange?: (trusted: boolean, reason: string) => void
  resyncDelayMs?: number
  sweepIntervalMs?: number
}

export function createRevocationList (opts: RevocationListOptions) {
  const { backend } = opts
  const sessions = new Map<string, number>()
  const users = new Map<string, { before: number, until: number }>()
  let trusted = false
  let generation = 0
  let closed = false
  let retry: NodeJS.Timeout | undefined
  const waiters: Array<() => void> = []

  function apply (entry: RevocationEntry): void {
    if (entry.until <= Date.now()) return
    if (entry.kind === 'session') {
      sessions.set(entry.id, Math.max(entry.until, sessions.get(entry.id) ?? 0))
    } else {
      const prev = users.get(entry.id)
      if (prev === undefined || prev.before < entry.before) users.set(entry.id, { before: entry.before, until: entry.until })
    }
  }

  function setTrusted (value: boolean, reason: string): void {
    if (trusted === value) return
    trusted = value
    opts.onStateChange?.(value, reason)
    if (value) for (const w of waiters.splice(0)) w()
  }

  // Entries are only ever added (a revocation is never undone), so a sync can
  // merge into the live maps while pushed entries keep arriving.
  async function sync (): Promise<void> {
    const mine = ++generation
    clearTimeout(retry)
    try {
      const [remote, durable] = await Promise.all([backend.load(), opts.loadDurable()])
      if (mine !== generation || closed) return
      for (const e of remote) apply(e)
      for (const e of durable) apply(e)
      setTrusted(true, 'synced')
    } catch {
      if (mine !== generation || closed) return
      retry = setTimeout(() => { sync().catch(() => {}) }, opts.resyncDelayMs ?? 1000)
      retry.unref()
    }
  }

  function sweep (): void {
    const now = Date.now()
    for (const [id, until] of sessions) if (until <= now) sessions.delete(id)
    for (const [id, u] of users) if (u.until <= now) users.delete(id)
  }
  const sweeper = setInterval(sweep, opts.sweepIntervalMs ?? 30_000)
  sweeper.unref()

  async function publish (entry: RevocationEntry): Promise<void> {
    // Seen here before the response is sent, whatever the backend does.
    apply(entry)
    try {
      await backend.publish(entry)
    } catch {
      throw new ServiceUnavailableError()
    }
  }

  return {
    async start (): Promise<void> {
      await backend.start({
        entry: apply,
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
    /** Fails closed: while the mirror cannot be trusted, nothing is accepted. */
    isRevoked (claims: { sid: string, sub: string, iat: number }): boolean {
      if (!trusted) throw new ServiceUnavailableError()
      if (sessions.has(claims.sid)) return (sessions.get(claims.sid) as number) > Date.now()
      const u = users.get(claims.sub)
      return u !== undefined && claims.iat * 1000 < u.before && u.until > Date.now()
    },
    revokeSession (sid: string, until: number): Promise<void> {
      return publish({ kind: 'session', id: sid, until })
    },
    revokeUserTokens (userId: string, before: number, until: number): Promise<void> {
      return publish({ kind: 'user', id: userId, before, until })
    },
    /** The cut-off before which a user's tokens are refused, if any (ms). */
    userCutoff (userId: string): number | undefined {
      return users.get(userId)?.before
    },
    size: () => ({ sessions: sessions.size, users: users.size }),
    sweep,
    ping: () => backend.ping(),
    backendName: backend.name,
    async close (): Promise<void> {
      closed = true
      clearInterval(sweeper)
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
