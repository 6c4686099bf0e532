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
//
// On a Redis Cluster the keys share one hash tag (one slot: MGET over them
// is allowed) and the channel is a shard channel of that same slot
// (SSUBSCRIBE/SPUBLISH, Redis 7), so one shard carries it all: the rules
// above hold for the subscription to the master that serves that slot
// (db/redis.ts), and only that shard's failover touches the mirror.
import { randomUUID } from 'node:crypto'
import { Cluster } from 'ioredis'
import type { RevocationBackend, RevocationEntry } from './mirror.ts'
import { createRedis, describe, keyName, subscribeChannel, subscribeShardChannel, toTarget, type RedisTarget } from '../db/redis.ts'

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

/**
 * Every master the cluster client knows, after it has learnt the slot map
 * afresh, and only once it knows the one that serves `key`'s slot: a load
 * right after a failover must not read the others and call that complete.
 */
async function mastersServing (cluster: Cluster, key: string) {
  await new Promise<void>((resolve, reject) => { cluster.refreshSlotsCache((err) => { if (err) reject(err); else resolve() }) })
  const slot = Number(await cluster.cluster('KEYSLOT', key))
  const owner = cluster.slots[slot]?.[0]
  const masters = cluster.nodes('master')
  if (!masters.some((node) => `${node.options.host}:${node.options.port}` === owner)) throw new Error(`no known master serves slot ${slot} yet`)
  return masters
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
  const cluster = client instanceof Cluster ? client : undefined
  // The same names as ever on a single Redis; one hash tag on a cluster.
  const channel = cluster !== undefined ? keyName(target, prefix, 'rev', 'channel') : `${prefix}revocations`
  const space = keyName(target, prefix, 'rev', '')
  const instance = randomUUID()
  const beat = JSON.stringify({ kind: 'hb', id: instance })
  const bye = JSON.stringify({ kind: 'hb', id: instance, bye: true })
  // Other instances heard on the current subscription (and not gone since).
  const peers = new Set<string>()
  // A user's version is part of its key: two revocations published out of
  // order leave two keys, and a sync keeps the higher (never overwritten down).
  const keyOf = (e: RevocationEntry) => e.kind === 'user' ? `${space}user:${e.id}:${e.version}` : `${space}${e.kind}:${e.id}`
  // ioredis emits 'error' on every failed reconnect; the mirror's state says what matters.
  client.on('error', () => {})
  cluster?.on('node error', () => {})
  let listening = false
  let lastHeard = 0
  let events: Parameters<RevocationBackend['start']>[0] | undefined
  const timers: NodeJS.Timeout[] = []

  const lost = () => {
    if (!listening) return
    listening = false
    events?.down()
  }
  const hooks = {
    message (raw: string) {
      const hb = heartbeat(raw)
      if (hb === undefined) {
        const e = parse(raw)
        if (e !== undefined) events?.entry(e)
      } else if (hb.id !== instance) {
        if (hb.bye) peers.delete(hb.id)
        else { peers.add(hb.id); lastHeard = Date.now() }
      } else if (peers.size === 0) {
        // Alone: our own heartbeat's round trip through the server is the sign of life; with peers, only theirs is.
        lastHeard = Date.now()
      }
    },
    // Subscribed first, then synced: nothing published in between is lost.
    listening () {
      peers.clear()
      lastHeard = Date.now()
      listening = true
      events?.up()
    },
    lost
  }
  const subscription = cluster !== undefined
    ? subscribeShardChannel(cluster, channel, options, hooks)
    : subscribeChannel(createRedis(target, { ...options, autoResubscribe: false }), channel, hooks)
  const send = (msg: string) => cluster !== undefined ? cluster.spublish(channel, msg) : client.publish(channel, msg)

  /** The values of every revocation key on one node (each master of a cluster in turn). */
  async function loadFrom (node: { scan: Cluster['scan'], mget: Cluster['mget'] }, out: RevocationEntry[]): Promise<void> {
    let cursor = '0'
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', `${space}*`, 'COUNT', 1000)
      cursor = next
      if (keys.length > 0) {
        // A slot being migrated may have moved a key since the scan: then each is read through the cluster client, which follows it.
        const values = await node.mget(...keys).catch(async (err) => {
          if (cluster === undefined) throw err
          return await Promise.all(keys.map((k) => cluster.get(k)))
        })
        for (const raw of values) {
          const e = parse(raw)
          if (e !== undefined) out.push(e)
        }
      }
    } while (cursor !== '0')
  }

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
      if (cluster === undefined) {
        await client.multi().set(keyOf(entry), msg, 'PX', ttl).publish(channel, msg).exec()
        return
      }
      // Two commands, not a transaction: while the slot migrates a new key
      // is written on the importing master (ASK) and the shard channel is
      // still served by the migrating one; stored first, then told.
      await cluster.set(keyOf(entry), msg, 'PX', ttl)
      await cluster.spublish(channel, msg)
    },
    async load () {
      const out: RevocationEntry[] = []
      if (cluster === undefined) await loadFrom(client as Cluster, out)
      // Mid-migration the slot's keys are split between two masters: every master is read.
      else for (const node of await mastersServing(cluster, space)) await loadFrom(node, out)
      return out
    },
    async start (handlers) {
      events = handlers
      timers.push(setInterval(() => {
        if (client.status === 'ready') send(beat).catch(() => {})
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
          subscription.restart()
        }
      }, tickMs))
      for (const t of timers) t.unref()
      await Promise.all([client.connect().catch(() => {}), subscription.start()])
    },
    async ping () { await client.ping() },
    async close () {
      // Leaving on purpose: the others stop waiting for this instance's heartbeats.
      if (timers.length > 0 && client.status === 'ready') await send(bye).catch(() => {})
      for (const t of timers) clearInterval(t)
      subscription.close()
      client.shutdown()
    }
  }
  return backend
}
