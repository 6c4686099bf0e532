// Redis as the revocation backend: one key per entry (expiring with the tokens
// it covers) for full syncs, and a channel that pushes each new entry to every
// instance's mirror. The subscriber's (re)connection triggers a full re-sync,
// so a message published while it was away is never missed.
//
// A connection can fail without closing (a half-open socket, a paused
// server, a silent partition): every instance publishes a heartbeat on the
// channel each second, and a subscriber that hears nothing for SILENCE_MS
// treats the channel as lost (the mirror fails closed), reconnects and
// re-syncs in full. Pub/sub delivers at most once; this and the mirror's
// periodic re-read of PostgreSQL make sure no revocation depends on it.
import { randomUUID } from 'node:crypto'
import type { RevocationBackend, RevocationEntry } from './revocation-list.ts'
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
  const beat = JSON.stringify({ kind: 'hb', id: randomUUID() })
  // A user's version is part of its key: two revocations published out of
  // order leave two keys, and a sync keeps the higher (never overwritten down).
  const keyOf = (e: RevocationEntry) => e.kind === 'user' ? `${prefix}rev:user:${e.id}:${e.version}` : `${prefix}rev:${e.kind}:${e.id}`
  // ioredis emits 'error' on every failed reconnect; the mirror's state says what matters.
  client.on('error', () => {})
  subscriber.on('error', () => {})
  let listening = false
  let lastHeard = 0
  const timers: NodeJS.Timeout[] = []

  const backend: RevocationBackend & { client: typeof client, lastHeard: () => number } = {
    name: describe(target),
    client,
    lastHeard: () => lastHeard,
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
        lastHeard = Date.now()
        const e = parse(raw)
        if (e !== undefined) events.entry(e)
      })
      subscriber.on('close', lost)
      subscriber.on('ready', () => {
        // Subscribe first, then sync: nothing published in between is lost.
        subscriber.subscribe(channel).then(() => {
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
      for (const t of timers) clearInterval(t)
      subscriber.removeAllListeners('close')
      subscriber.shutdown()
      client.shutdown()
    }
  }
  return backend
}
