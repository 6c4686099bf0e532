// One way to reach Redis for everything that uses it (revocations, their
// channel, rate limits): a URL (redis:// or rediss:// for TLS), or a
// Sentinel set that names the current primary and follows a failover.
import { Redis, type RedisOptions } from 'ioredis'

export type RedisTarget =
  | { url: string }
  | { sentinels: Array<{ host: string, port: number }>, name: string }

export function describe (target: RedisTarget): string {
  return 'url' in target ? 'redis' : `redis-sentinel:${target.name}`
}

export type Connection = Redis & {
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

function open (target: RedisTarget, options: RedisOptions): Redis {
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

/**
 * A connection for single commands on the request path (rate-limit counters,
 * DPoP replay claims): no offline queue and short timeouts, so that an
 * outage answers at once; its errors are the callers' to handle.
 */
export function createCommandRedis (target: RedisTarget): Connection {
  const conn = createRedis(target, { enableOfflineQueue: false, maxRetriesPerRequest: 1, commandTimeout: 500, connectTimeout: 2000 })
  conn.on('error', () => {})
  return conn
}

/** Accepts a plain URL where a target is expected (tests, the CLI of old). */
export function toTarget (target: RedisTarget | string): RedisTarget {
  return typeof target === 'string' ? { url: target } : target
}
