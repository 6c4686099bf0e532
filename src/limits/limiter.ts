// Counters for abuse limits: in Redis (shared by every instance) when it is
// there, and in this process while it is not, so that a Redis outage narrows
// the limits to one instance instead of switching them off. A key is named
// the same in both (the Redis one under the prefix).
//
// In process, each kind of counter has a store of its own, bounded, so that
// no key can push out a counter of another kind, and memory stays bounded
// whatever names an attacker invents. A store that is full first drops the
// counters whose window is over; then it drops the counter nearest its end
// (`evict`: for counters whose loss costs nothing an attacker can use), or,
// for counters that protect an account (`evict-least`), the least counted of
// the oldest few: a flood of invented usernames, each counted once, pushes
// out its own counters, never a victim's that holds many guesses, and never
// locks out an account that has no counter yet.
import { createRequire } from 'node:module'
import { isIPv6 } from 'node:net'
import type { Cluster, Redis } from 'ioredis'

interface Count { current: number, ttl: number }
type Callback = (err: Error | null, res: Count) => void
interface Store {
  incr: (key: string, cb: Callback, timeWindow: number, max: number) => void
  read: (key: string, cb: Callback, timeWindow: number, max: number) => void
}

/** One attempt counted before it is made (see reserve). */
export interface Reservation extends Count {
  /** Uncounts the attempt: it turned out not to be one the limit counts. */
  giveBack: () => Promise<void>
}

export interface CounterOptions {
  /** A counter lives this long from its first hit (from its last renew for renew()). One window per kind of counter. */
  windowMs: number
  /** The most keys this kind keeps in process. */
  capacity: number
  whenFull: 'evict' | 'evict-least'
}

// Takes one off a live counter (never below zero, never creating it; DECR keeps the expiry).
const GIVE_BACK = `local v = redis.call('GET', KEYS[1])
if v and tonumber(v) > 0 then redis.call('DECR', KEYS[1]) end
return 0`
// Counts one more and starts the window again.
const RENEW = `local c = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return c`

/** How many of the oldest counters an `evict-least` store compares: a bounded cost per new key. */
const LEAST_OF = 64

const require = createRequire(import.meta.url)
const RedisStore = require('@fastify/rate-limit/store/RedisStore.js') as new (continueExceeding: boolean, exponentialBackoff: boolean, redis: Redis | Cluster, key: string) => Store

/**
 * One kind of counter in process. Every key has the same window, so the
 * Map's insertion order is the order in which windows end (a counter whose
 * window starts again is moved to the end): the ended ones are swept from
 * the front, and the front is the one nearest its end.
 */
export class LocalCounters {
  readonly #entries = new Map<string, { count: number, endsAt: number }>()
  readonly #options: CounterOptions
  readonly #now: () => number

  constructor (options: CounterOptions, now: () => number = Date.now) {
    this.#options = options
    this.#now = now
  }

  get size (): number { return this.#entries.size }

  #live (key: string, now: number) {
    const entry = this.#entries.get(key)
    if (entry !== undefined && entry.endsAt <= now) {
      this.#entries.delete(key)
      return undefined
    }
    return entry
  }

  /** Makes room for one more key. */
  #room (now: number): void {
    if (this.#entries.size < this.#options.capacity) return
    for (const [key, entry] of this.#entries) {
      if (entry.endsAt > now) break
      this.#entries.delete(key)
    }
    if (this.#entries.size < this.#options.capacity) return
    let victim = this.#entries.keys().next().value!
    if (this.#options.whenFull === 'evict-least') {
      let least = Infinity
      let seen = 0
      for (const [key, entry] of this.#entries) {
        if (entry.count < least) { least = entry.count; victim = key }
        if (++seen === LEAST_OF || least === 1) break
      }
    }
    this.#entries.delete(victim)
  }

  /** Counts one. */
  incr (key: string): Count {
    const now = this.#now()
    const entry = this.#live(key, now)
    if (entry !== undefined) return { current: ++entry.count, ttl: entry.endsAt - now }
    this.#room(now)
    this.#entries.set(key, { count: 1, endsAt: now + this.#options.windowMs })
    return { current: 1, ttl: this.#options.windowMs }
  }

  read (key: string): Count {
    const now = this.#now()
    const entry = this.#live(key, now)
    return entry === undefined ? { current: 0, ttl: 0 } : { current: entry.count, ttl: entry.endsAt - now }
  }

  /** Counts one and starts the window again: a sliding window. */
  renew (key: string): Count {
    const now = this.#now()
    const entry = this.#live(key, now)
    if (entry === undefined) this.#room(now)
    this.#entries.delete(key)
    const renewed = { count: (entry?.count ?? 0) + 1, endsAt: now + this.#options.windowMs }
    this.#entries.set(key, renewed)
    return { current: renewed.count, ttl: this.#options.windowMs }
  }

  /** Takes one off; a counter back at zero is no counter (its room is free again). */
  giveBack (key: string): void {
    const entry = this.#live(key, this.#now())
    if (entry === undefined) return
    if (--entry.count <= 0) this.#entries.delete(key)
  }

  delete (key: string): void {
    this.#entries.delete(key)
  }
}

/**
 * Every Redis command and script here names one key (a counter), so on a
 * cluster the counters spread over every shard, no hash tag needed, and a
 * shard that is down narrows only its own counters to this process.
 */
export function createLimiter (redis: Redis | Cluster | undefined, prefix: string, now: () => number = Date.now) {
  const remote = redis !== undefined ? new RedisStore(false, false, redis, prefix) : undefined
  const inRedis = () => remote !== undefined && redis?.status === 'ready'
  function run (method: 'incr' | 'read', key: string, windowMs: number): Promise<Count> {
    return new Promise((resolve, reject) => remote![method](key, (err, res) => err !== null ? reject(err) : resolve(res), windowMs, 0))
  }

  /** One kind of counter (one window, one in-process store). */
  function counter (options: CounterOptions) {
    const local = new LocalCounters(options, now)
    /** The count, and whether Redis kept it (a give-back goes to the store that counted). */
    async function count (method: 'incr' | 'read', key: string): Promise<{ count: Count, remote: boolean }> {
      if (inRedis()) {
        try {
          return { count: await run(method, key, options.windowMs), remote: true }
        } catch {}
      }
      return { count: local[method](key), remote: false }
    }
    return {
      /** Counts one event; the count in the window and the window's remaining ms. */
      hit: async (key: string) => (await count('incr', key)).count,
      /**
       * Counts an attempt *before* it is made, so that concurrent attempts
       * cannot all pass a check made before any of them was counted: the
       * count includes this one and every one in flight. giveBack() uncounts
       * an attempt that did not turn out to be one the limit counts.
       */
      async reserve (key: string): Promise<Reservation> {
        const { count: c, remote: counted } = await count('incr', key)
        const giveBack = counted
          ? async () => { await redis!.eval(GIVE_BACK, 1, prefix + key).catch(() => {}) }
          : async () => { local.giveBack(key) }
        return { ...c, giveBack }
      },
      /** The count without adding to it. */
      peek: async (key: string) => (await count('read', key)).count,
      /** Counts one and starts the window again (a sliding window): the count lasts windowMs from now. */
      async renew (key: string): Promise<Count> {
        if (inRedis()) {
          try {
            return { current: Number(await redis!.eval(RENEW, 1, prefix + key, options.windowMs)), ttl: options.windowMs }
          } catch {}
        }
        return local.renew(key)
      },
      async reset (key: string): Promise<void> {
        local.delete(key)
        if (inRedis()) await redis!.del(prefix + key).catch(() => {})
      },
      /** The in-process store (its size: tests). */
      local
    }
  }
  return { counter }
}

export type Limiter = ReturnType<typeof createLimiter>
export type Counter = ReturnType<Limiter['counter']>

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
