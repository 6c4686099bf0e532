// Redis as the revocation backend: one key per entry (expiring with the tokens
// it covers) for full syncs, and a channel that pushes each new entry to every
// instance's mirror. The subscriber's (re)connection triggers a full re-sync,
// so a message published while it was away is never missed.
//
// A connection can fail without closing (a half-open socket, a paused
// server, a silent partition): every instance publishes a heartbeat on the
// channel each second, with its id, and a subscriber that hears no sign of
// life for SILENCE_MS treats the channel as lost (the mirror fails closed),
// reconnects and re-syncs in full. Pub/sub delivers at most once; this and
// the mirror's periodic re-read of PostgreSQL make sure no revocation
// depends on it.
//
// Which heartbeats are signs of life: an instance that hears only itself
// may be left alone on an old primary (after a failover, on the wrong side
// of a partition) while the others revoke on the new one. So once an
// instance has heard others on its subscription, only their heartbeats
// count; its own count only while it has heard no one else, where their
// round trip through the server proves the channel works. An instance that
// stops (close) says so, so that the last one left stays trusted; one that
// vanishes leaves the others failing closed until their reconnection, which
// re-resolves the primary (through Sentinel) and starts with no peers.
import { randomUUID } from 'node:crypto'
import type { RevocationBackend, RevocationEntry } from './mirror.ts'
import { createRedis, describe, toTarget, type RedisTarget } from '../db/redis.ts'

export const HEARTBEAT_MS = 1000
export const SILENCE_MS = 5000

function parse (raw: string | null): RevocationEntry | undefined {
  if (raw === null) return undefined
  try {
    const e = JSON.parse(raw)
    const known = e.kind === 'session' || e.kind === 'key' || e.kind === 'key-set' || (e.kind === 'user' && Number.isSafeInteger(e.version))
    if (known && typeof e.id === 'string' && typeof e.until === 'number') return e
  } catch {}
  return undefined
}

function heartbeat (raw: string): { id: string, bye: boolean } | undefined {
  if (!raw.startsWith('{"kind":"hb"')) return undefined
  try {
    const m = JSON.parse(raw)
    return typeof m.id === 'string' ? { id: m.id, bye: m.bye === true } : undefined
  } catch {
    return undefined
  }
}

export function createRedisBackend (where: RedisTarget | string, prefix = 'auth:', timing: { heartbeatMs?: number, silenceMs?: number } = {}) {
  const target = toTarget(where)
  const heartbeatMs = timing.heartbeatMs ?? HEARTBEAT_MS
  const silenceMs = timing.silenceMs ?? SILENCE_MS
  const options = {
    lazyConnect: true,
    // No queue while disconnected: a command fails at once and the request gets 503.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: 1000,
    connectTimeout: 2000,
    retryStrategy: (times: number) => Math.min(100 * times, 1000)
  }
  const client = createRedis(target, options)
  const subscriber = createRedis(target, { ...options, autoResubscribe: false })
  const channel = `${prefix}revocations`
  const instance = randomUUID()
  const beat = JSON.stringify({ kind: 'hb', id: instance })
  const bye = JSON.stringify({ kind: 'hb', id: instance, bye: true })
  // Other instances heard on the current subscription (and not gone since).
  const peers = new Set<string>()
  // A user's version is part of its key: two revocations published out of
  // order leave two keys, and a sync keeps the higher (never overwritten down).
  const keyOf = (e: RevocationEntry) => e.kind === 'user' ? `${prefix}rev:user:${e.id}:${e.version}` : `${prefix}rev:${e.kind}:${e.id}`
  // ioredis emits 'error' on every failed reconnect; the mirror's state says what matters.
  client.on('error', () => {})
  subscriber.on('error', () => {})
  let listening = false
  let lastHeard = 0
  const timers: NodeJS.Timeout[] = []

  const backend: RevocationBackend & { client: typeof client, lastHeard: () => number, peers: () => number } = {
    name: describe(target),
    client,
    lastHeard: () => lastHeard,
    /** Other instances this one hears. */
    peers: () => peers.size,
    async publish (entry) {
      const ttl = entry.until - Date.now()
      if (ttl <= 0) return
      const msg = JSON.stringify(entry)
      await client.multi().set(keyOf(entry), msg, 'PX', ttl).publish(channel, msg).exec()
    },
    async load () {
      const out: RevocationEntry[] = []
      let cursor = '0'
      do {
        const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}rev:*`, 'COUNT', 1000)
        cursor = next
        if (keys.length > 0) {
          for (const raw of await client.mget(...keys)) {
            const e = parse(raw)
            if (e !== undefined) out.push(e)
          }
        }
      } while (cursor !== '0')
      return out
    },
    async start (events) {
      const lost = () => {
        if (!listening) return
        listening = false
        events.down()
      }
      subscriber.on('message', (_ch: string, raw: string) => {
        const hb = heartbeat(raw)
        if (hb === undefined) {
          const e = parse(raw)
          if (e !== undefined) events.entry(e)
        } else if (hb.id !== instance) {
          if (hb.bye) peers.delete(hb.id)
          else { peers.add(hb.id); lastHeard = Date.now() }
        } else if (peers.size === 0) {
          // Alone: our own heartbeat's round trip through the server is the sign of life; with peers, only theirs is.
          lastHeard = Date.now()
        }
      })
      subscriber.on('close', lost)
      subscriber.on('ready', () => {
        // Subscribe first, then sync: nothing published in between is lost.
        subscriber.subscribe(channel).then(() => {
          peers.clear()
          lastHeard = Date.now()
          listening = true
          events.up()
        }, () => subscriber.disconnect(true))
      })
      timers.push(setInterval(() => {
        if (client.status === 'ready') client.publish(channel, beat).catch(() => {})
      }, heartbeatMs))
      const tickMs = Math.max(50, Math.floor(heartbeatMs / 2))
      let lastTick = Date.now()
      timers.push(setInterval(() => {
        const now = Date.now()
        // Silence counts only while this process could listen: after an
        // event-loop stall the messages are still unread in the socket, and
        // the channel is not to blame.
        const stalled = now - lastTick - tickMs
        if (stalled > tickMs) lastHeard += stalled
        lastTick = now
        if (listening && now - lastHeard > silenceMs) {
          // Deaf, though the socket may look open: fail closed, then reconnect and re-sync.
          lost()
          subscriber.disconnect(true)
        }
      }, tickMs))
      for (const t of timers) t.unref()
      await Promise.all([
        client.connect().catch(() => {}),
        subscriber.connect().catch(() => {})
      ])
    },
    async ping () { await client.ping() },
    async close () {
      // Leaving on purpose: the others stop waiting for this instance's heartbeats.
      if (timers.length > 0 && client.status === 'ready') await client.publish(channel, bye).catch(() => {})
      for (const t of timers) clearInterval(t)
      subscriber.removeAllListeners('close')
      subscriber.shutdown()
      client.shutdown()
    }
  }
  return backend
}
