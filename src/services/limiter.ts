// Counters for abuse limits, on @fastify/rate-limit's own stores: in Redis
// (shared by every instance) when it is there, and in this process while it is
// not, so that a Redis outage narrows the limits to one instance instead of
// switching them off.
import { createRequire } from 'node:module'
import { isIPv6 } from 'node:net'
import type { Redis } from 'ioredis'

interface Count { current: number, ttl: number }
type Callback = (err: Error | null, res: Count) => void
interface Store {
  incr: (key: string, cb: Callback, timeWindow: number, max: number) => void
  read: (key: string, cb: Callback, timeWindow: number, max: number) => void
}
interface LocalEntry { current: number, iterationStartMs: number }
interface LocalStoreType extends Store { lru: { delete: (key: string) => void, get: (key: string) => LocalEntry | undefined } }

/** One attempt counted before it is made (see reserve). */
export interface Reservation extends Count {
  /** Uncounts the attempt: it turned out not to be one the limit counts. */
  giveBack: () => Promise<void>
}

// Takes one off a live counter (never below zero, never creating it; DECR keeps the expiry).
const GIVE_BACK = `local v = redis.call('GET', KEYS[1])
if v and tonumber(v) > 0 then redis.call('DECR', KEYS[1]) end
return 0`

const require = createRequire(import.meta.url)
const RedisStore = require('@fastify/rate-limit/store/RedisStore.js') as new (continueExceeding: boolean, exponentialBackoff: boolean, redis: Redis, key: string) => Store
const LocalStore = require('@fastify/rate-limit/store/LocalStore.js') as new (continueExceeding: boolean, exponentialBackoff: boolean, cache: number) => LocalStoreType

const LOCAL_KEYS = 50_000

export function createLimiter (redis: Redis | undefined, prefix: string) {
  const local = new LocalStore(false, false, LOCAL_KEYS)
  const remote = redis !== undefined ? new RedisStore(false, false, redis, prefix) : undefined

  function run (store: Store, method: 'incr' | 'read', key: string, windowMs: number): Promise<Count> {
    return new Promise((resolve, reject) => store[method](key, (err, res) => err !== null ? reject(err) : resolve(res), windowMs, 0))
  }
  function call (method: 'incr' | 'read', key: string, windowMs: number): Promise<Count> {
    return callOn(method, key, windowMs).then((r) => r.count)
  }
  /** The count, and whether Redis kept it (a give-back goes to the store that counted). */
  async function callOn (method: 'incr' | 'read', key: string, windowMs: number): Promise<{ count: Count, remote: boolean }> {
    if (remote !== undefined && redis?.status === 'ready') {
      try {
        return { count: await run(remote, method, key, windowMs), remote: true }
      } catch {}
    }
    return { count: await run(local, method, key, windowMs), remote: false }
  }
  async function giveBack (key: string, windowMs: number, inRedis: boolean): Promise<void> {
    if (inRedis) {
      await redis!.eval(GIVE_BACK, 1, prefix + key).catch(() => {})
      return
    }
    const entry = local.lru.get(key)
    if (entry !== undefined && entry.iterationStartMs + windowMs > Date.now() && entry.current > 0) entry.current--
  }

  return {
    /** Counts one event; the count in the window and the window's remaining ms. */
    hit: (key: string, windowMs: number) => call('incr', key, windowMs),
    /**
     * Counts an attempt *before* it is made, so that concurrent attempts
     * cannot all pass a check made before any of them was counted: the
     * count includes this one and every one in flight. giveBack() uncounts
     * an attempt that did not turn out to be one the limit counts.
     */
    async reserve (key: string, windowMs: number): Promise<Reservation> {
      const { count, remote: inRedis } = await callOn('incr', key, windowMs)
      return { ...count, giveBack: () => giveBack(key, windowMs, inRedis) }
    },
    /** The count without adding to it. */
    peek: (key: string, windowMs: number) => call('read', key, windowMs),
    async reset (key: string): Promise<void> {
      local.lru.delete(key)
      if (redis?.status === 'ready') await redis.del(prefix + key).catch(() => {})
    }
  }
}

export type Limiter = ReturnType<typeof createLimiter>

/**
 * The key a client address is limited under: an IPv4 address as is (also when
 * IPv4-mapped), an IPv6 address by its /64, the smallest block one subscriber
 * is given: otherwise every address of that block would be a fresh bucket.
 */
export function addressKey (ip: string): string {
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(ip)
  if (mapped !== null) return mapped[1]
  if (!isIPv6(ip)) return ip
  const bare = ip.split('%')[0].toLowerCase()
  const [head, tail] = bare.split('::')
  const left = head === '' ? [] : head.split(':')
  const right = tail === undefined || tail === '' ? [] : tail.split(':')
  // An embedded IPv4 tail holds two groups.
  const groups = tail === undefined ? left : [...left, ...Array(8 - left.length - right.length - (right.at(-1)?.includes('.') === true ? 1 : 0)).fill('0'), ...right]
  return groups.slice(0, 4).map((g) => g.replace(/^0+(?=.)/, '')).join(':') + '::/64'
}
