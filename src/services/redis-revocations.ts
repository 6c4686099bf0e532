// Redis as the revocation backend: one key per entry (expiring with the tokens
// it covers) for full syncs, and a channel that pushes each new entry to every
// instance's mirror. The subscriber's (re)connection triggers a full re-sync,
// so a message published while it was away is never missed.
import { Redis } from 'ioredis'
import type { RevocationBackend, RevocationEntry } from './revocation-list.ts'

function parse (raw: string | null): RevocationEntry | undefined {
  if (raw === null) return undefined
  try {
    const e = JSON.parse(raw)
    const known = e.kind === 'session' || e.kind === 'key' || e.kind === 'key-set' || (e.kind === 'user' && Number.isSafeInteger(e.version))
    if (known && typeof e.id === 'string' && typeof e.until === 'number') return e
  } catch {}
  return undefined
}

export function createRedisBackend (url: string, prefix = 'auth:') {
  const options = {
    lazyConnect: true,
    // No queue while disconnected: a command fails at once and the request gets 503.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: 1000,
    connectTimeout: 2000,
    retryStrategy: (times: number) => Math.min(100 * times, 1000)
  }
  const client = new Redis(url, options)
  const subscriber = new Redis(url, { ...options, autoResubscribe: false })
  const channel = `${prefix}revocations`
  // A user's version is part of its key: two revocations published out of
  // order leave two keys, and a sync keeps the higher (never overwritten down).
  const keyOf = (e: RevocationEntry) => e.kind === 'user' ? `${prefix}rev:user:${e.id}:${e.version}` : `${prefix}rev:${e.kind}:${e.id}`
  // ioredis emits 'error' on every failed reconnect; the mirror's state says what matters.
  client.on('error', () => {})
  subscriber.on('error', () => {})

  const backend: RevocationBackend & { client: Redis } = {
    name: 'redis',
    client,
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
      subscriber.on('message', (_ch: string, raw: string) => {
        const e = parse(raw)
        if (e !== undefined) events.entry(e)
      })
      subscriber.on('close', events.down)
      subscriber.on('ready', () => {
        // Subscribe first, then sync: nothing published in between is lost.
        subscriber.subscribe(channel).then(events.up, () => subscriber.disconnect(true))
      })
      await Promise.all([
        client.connect().catch(() => {}),
        subscriber.connect().catch(() => {})
      ])
    },
    async ping () { await client.ping() },
    async close () {
      subscriber.removeAllListeners('close')
      subscriber.disconnect()
      client.disconnect()
    }
  }
  return backend
}
