// One way to reach Redis for everything that uses it (revocations, their
// channel, rate limits, DPoP replays): a URL (redis:// or rediss:// for
// TLS), a Sentinel set that names the current primary and follows a
// failover, or a Redis Cluster (ioredis' cluster client, which follows its
// slots and their failovers).
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis'

export type RedisTarget =
  | { url: string }
  | { sentinels: Array<{ host: string, port: number }>, name: string }
  | { cluster: Array<{ host: string, port: number }> }

export function describe (target: RedisTarget): string {
  if ('cluster' in target) return 'redis-cluster'
  return 'url' in target ? 'redis' : `redis-sentinel:${target.name}`
}

export function isCluster (target: RedisTarget): target is { cluster: Array<{ host: string, port: number }> } {
  return 'cluster' in target
}

/**
 * A key's name in this target's key space. On a cluster the hash tag
 * (`{…}`) puts every key of one `group` in one slot, so that a command or
 * script that names several of them (MGET, a transaction) is allowed; on a
 * single Redis the names stay as they always were.
 */
export function keyName (target: RedisTarget, prefix: string, group: string, rest: string): string {
  return isCluster(target) ? `{${prefix}${group}}:${rest}` : `${prefix}${group}:${rest}`
}

export type Connection = (Redis | Cluster) & {
  /** Closes it for good (a connection closed any other way is opened again). */
  shutdown: () => void
}

/**
 * A connection that stays up: ioredis can end one for good during a Sentinel
 * failover (seen under load: "Connection is closed", then `end`, and no more
 * reconnecting). One this service did not close itself is opened again.
 */
export function createRedis (target: RedisTarget, options: RedisOptions): Connection {
  const conn = open(target, options)
  let closing = false
  conn.on('end', () => {
    if (closing) return
    const timer = setTimeout(() => { if (!closing && conn.status === 'end') conn.connect().catch(() => {}) }, 500)
    timer.unref()
  })
  return Object.assign(conn, {
    shutdown () {
      closing = true
      conn.disconnect()
    }
  })
}

function open (target: RedisTarget, options: RedisOptions): Redis | Cluster {
  if ('cluster' in target) return openCluster(target.cluster, options)
  if ('url' in target) return new Redis(target.url, options)
  return new Redis({
    ...options,
    sentinels: target.sentinels,
    name: target.name,
    // Sentinels announce a failover: reconnect to the new primary at once
    // instead of waiting for the old connection to fail.
    failoverDetector: true,
    // Only the primary takes writes (SET, PUBLISH, rate-limit counters).
    role: 'master',
    sentinelRetryStrategy: (times: number) => Math.min(100 * times, 1000)
  })
}

function openCluster (nodes: Array<{ host: string, port: number }>, options: RedisOptions): Cluster {
  const { enableOfflineQueue, lazyConnect, retryStrategy, ...perNode } = options
  const clusterOptions: ClusterOptions = {
    lazyConnect,
    enableOfflineQueue,
    // Each node's connection: the same timeouts as a single Redis (the
    // cluster client, not the node, decides when to connect again).
    redisOptions: perNode,
    clusterRetryStrategy: (times: number) => retryStrategy?.(times) ?? Math.min(100 * times, 1000),
    // Few and short retries: a request waits on a failing shard at most a
    // few hundred ms before it is answered (503, or the in-process limits).
    maxRedirections: 6,
    retryDelayOnFailover: 100,
    retryDelayOnClusterDown: 100,
    retryDelayOnTryAgain: 100,
    // A failover or a slot that moved is learnt within a second even when
    // no command has run into it yet.
    slotsRefreshInterval: 1000,
    slotsRefreshTimeout: 1000
  }
  return new Cluster(nodes, clusterOptions)
}

/**
 * A connection for single commands on the request path (rate-limit counters,
 * DPoP replay claims): no offline queue and short timeouts, so that an
 * outage answers at once; its errors are the callers' to handle.
 */
export function createCommandRedis (target: RedisTarget): Connection {
  const conn = createRedis(target, { enableOfflineQueue: false, maxRetriesPerRequest: 1, commandTimeout: 500, connectTimeout: 2000 })
  conn.on('error', () => {})
  if (conn instanceof Cluster) conn.on('node error', () => {})
  return conn
}

/** Accepts a plain URL where a target is expected (tests, the CLI of old). */
export function toTarget (target: RedisTarget | string): RedisTarget {
  return typeof target === 'string' ? { url: target } : target
}

/** What a channel's subscription reports. */
export interface ChannelHooks {
  message: (raw: string) => void
  /** Subscribed (again): whatever was published before may have been missed. */
  listening: () => void
  /** The connection is gone: nothing is heard until `listening` again. */
  lost: () => void
}

export interface Subscription {
  start: () => Promise<void>
  /** Drops the connection (a deaf one) and listens again on a fresh one. */
  restart: () => void
  close: () => void
}

/** A channel on one Redis (a URL or through Sentinel): one connection, reopened and subscribed again by ioredis. */
export function subscribeChannel (conn: Connection, channel: string, on: ChannelHooks): Subscription {
  conn.on('error', () => {})
  conn.on('message', (_ch: string, raw: string) => { on.message(raw) })
  conn.on('close', on.lost)
  conn.on('ready', () => { conn.subscribe(channel).then(on.listening, () => conn.disconnect(true)) })
  return {
    start: async () => { await conn.connect().catch(() => {}) },
    restart: () => { conn.disconnect(true) },
    close () {
      conn.removeAllListeners('close')
      conn.shutdown()
    }
  }
}

/**
 * A shard channel on a cluster (SSUBSCRIBE, Redis 7): a connection of its
 * own to the master that serves the channel's slot, found afresh each time,
 * so that it follows a failover (the master's connection closes: lost,
 * then the promoted replica) and a slot migration (the old master ends the
 * subscription: a new one on the new master, then `listening` again, which
 * re-syncs without ever being lost).
 */
export function subscribeShardChannel (cluster: Cluster, channel: string, options: RedisOptions, on: ChannelHooks): Subscription {
  let current: Redis | undefined
  let pending = false
  let closed = false
  // Where a MOVED answer said the slot is now.
  let hint: { host: string, port: number } | undefined
  let retry: NodeJS.Timeout | undefined

  async function owner (): Promise<{ host: string, port: number }> {
    const slot = Number(await cluster.cluster('KEYSLOT', channel))
    const ranges = await cluster.cluster('SLOTS')
    const range = ranges.find(([from, to]) => slot >= from && slot <= to)
    if (range === undefined) throw new Error(`no master serves slot ${slot}`)
    return { host: range[2][0], port: Number(range[2][1]) }
  }

  function later (): void {
    clearTimeout(retry)
    if (closed) return
    retry = setTimeout(ensure, 250)
    retry.unref()
  }

  /** Subscribes a fresh connection, then lets the old one go. */
  function ensure (): void {
    if (closed || pending) return
    pending = true
    attempt().finally(() => { pending = false })
  }

  async function attempt (): Promise<void> {
    let conn: Redis | undefined
    try {
      const at = hint ?? await owner()
      hint = undefined
      conn = new Redis({ ...options, ...at, lazyConnect: true, autoResubscribe: false, retryStrategy: () => null })
      const mine = conn
      mine.on('error', (err: Error) => {
        // The master gave the slot away (CLUSTER SETSLOT): it ends our
        // subscription unasked, which ioredis reports as an error.
        if (mine === current && /sunsubscribe/i.test(err.message)) ensure()
      })
      mine.on('smessage', (_ch: string, raw: string) => { on.message(raw) })
      mine.on('close', () => {
        if (mine !== current) return
        current = undefined
        on.lost()
        later()
      })
      await mine.connect()
      await mine.ssubscribe(channel)
      if (closed) { mine.disconnect(); return }
      const old = current
      current = mine
      old?.disconnect()
      on.listening()
    } catch (err) {
      const moved = /MOVED \d+ (\S+):(\d+)/.exec(String((err as Error)?.message))
      if (moved !== null) hint = { host: moved[1], port: Number(moved[2]) }
      conn?.disconnect()
      later()
    }
  }

  return {
    async start () {
      if (cluster.status !== 'ready') await new Promise<void>((resolve) => { cluster.once('ready', resolve); setTimeout(resolve, 2000).unref() })
      await attempt()
    },
    restart () {
      const old = current
      current = undefined
      old?.disconnect()
      on.lost()
      ensure()
    },
    close () {
      closed = true
      clearTimeout(retry)
      const old = current
      current = undefined
      old?.disconnect()
    }
  }
}
