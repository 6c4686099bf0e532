// Abuse limits, only on the routes that have one: in Redis when it is set
// (REDIS_URL, the Sentinels or a cluster) so every instance shares them, in
// process otherwise and while Redis is unreachable. RATE_LIMIT=off turns
// every limit off.
//
// Login failures are counted per account *and* address: a guesser is stopped
// on the addresses it guesses from, and cannot lock the user out from theirs.
// An account-wide ceiling on consecutive failures (NIST SP 800-63B 5.2.2)
// holds against a guesser with many addresses, and still lets the user in
// from an address they signed in from in the last 30 days (each sign-in from
// it renews that: a daily user never loses it).
import fp from 'fastify-plugin'
import { createCommandRedis, type Connection } from '../db/redis.ts'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { Config } from '../config.ts'
import { TooManyRequestsError } from '../errors.ts'
import { addressKey, createLimiter, type CounterOptions } from '../limits/limiter.ts'

type Guard = (request: FastifyRequest, reply: FastifyReply) => Promise<void>

const MINUTE = 60_000
export const LOGIN_LIMITS = {
  perAddress: { max: 30, windowMs: MINUTE },
  failuresPerAccountAndAddress: { max: 10, windowMs: 15 * MINUTE },
  failuresPerAccount: { max: 100, windowMs: 15 * MINUTE },
  knownAddressMs: 30 * 24 * 60 * MINUTE
}

/**
 * The in-process stores, one per kind of counter (limiter.ts), at most this
 * many keys each (about 300 bytes a key: ~110 MB at worst all full, a few
 * kB in ordinary use).
 * - The ceiling of an account and its wrong-code counter: a full store
 *   pushes out the least counted of its oldest counters, so a flood of
 *   invented usernames (each counted once) pushes out its own counters,
 *   never a victim's holding many guesses; pushing out one at count c takes
 *   dozens of counters at c or more, made from addresses that the
 *   per-address limit holds back. Refusing new keys instead would turn that
 *   flood into a lock-out of every account that had no counter yet.
 * - Per-address counters (a minute) and account-and-address counters are
 *   pushed out oldest first: refusing would lock every user out once an
 *   invented-username flood filled the store, while pushing one out takes
 *   that flood and buys one address a few more guesses, still bounded by the
 *   account's ceiling (and, from an address the user signed in from, by the
 *   per-address limit).
 * - Known addresses are pushed out least recently renewed first: losing one
 *   only makes its user wait out an attack like any new address, and only a
 *   sign-in (a password) makes one.
 */
export const LOCAL_STORES = {
  perAddress: { windowMs: MINUTE, capacity: 50_000, whenFull: 'evict' },
  accountAddressFailures: { windowMs: LOGIN_LIMITS.failuresPerAccountAndAddress.windowMs, capacity: 100_000, whenFull: 'evict' },
  accountFailures: { windowMs: LOGIN_LIMITS.failuresPerAccount.windowMs, capacity: 100_000, whenFull: 'evict-least' },
  knownAddresses: { windowMs: LOGIN_LIMITS.knownAddressMs, capacity: 100_000, whenFull: 'evict' },
  mfaFailures: { windowMs: 15 * MINUTE, capacity: 20_000, whenFull: 'evict-least' }
} as const satisfies Record<string, CounterOptions>

/** A guess counted before it is checked; a wrong one needs nothing more: it stays counted. */
export interface Attempt {
  /** The guess was right or was no guess (refused for another reason): it is uncounted. */
  uncount: () => Promise<void>
}
export interface LoginAttempt extends Attempt {
  /** The password was right: this pair's and account's failures start again, and the address is known. */
  succeeded: () => Promise<void>
}

export interface LoginThrottle {
  /**
   * Counts a password guess for this account from this address before it is
   * checked (so that concurrent guesses cannot all pass a check made before
   * any failed); 429 when the account may not be tried from here now.
   */
  begin: (username: string, request: FastifyRequest, reply: FastifyReply) => Promise<LoginAttempt>
}

/** Wrong second-factor codes, per account: 5 in 15 min (a 6-digit code must not be guessable). */
export const MFA_CODE_LIMIT = { max: 5, windowMs: LOCAL_STORES.mfaFailures.windowMs }

export interface MfaThrottle {
  /** Counts a code before it is checked; 429 once MFA_CODE_LIMIT codes in the window were wrong or are being checked. */
  begin: (userId: string, reply: FastifyReply) => Promise<Attempt>
}

const off: Guard = async () => {}
const settled = async () => {}
const noThrottle: LoginThrottle = { begin: async () => ({ uncount: settled, succeeded: settled }) }

export default fp(async function rateLimitPlugin (app, opts: { config: Config, redisPrefix?: string, /** The in-process stores' clock (tests). */ now?: () => number }) {
  const { config } = opts
  let redis: Connection | undefined
  if (config.redis !== undefined) {
    redis = createCommandRedis(config.redis)
    app.addHook('onClose', async () => { redis?.shutdown() })
  }
  const limiter = createLimiter(redis, `${opts.redisPrefix ?? 'auth:'}rl:`, opts.now)
  const mfaFailures = limiter.counter(LOCAL_STORES.mfaFailures)
  function tooMany (reply: FastifyReply, ttlMs: number, limit: string): Error {
    app.metrics.rateLimited(limit)
    reply.header('retry-after', String(Math.max(1, Math.ceil(ttlMs / 1000))))
    return new TooManyRequestsError()
  }

  // Always on, RATE_LIMIT=off included: without it a 6-digit code falls to a million tries.
  app.decorate('mfaThrottle', {
    async begin (userId, reply) {
      const taken = await mfaFailures.reserve(`mfa-fail:${userId}`)
      if (taken.current > MFA_CODE_LIMIT.max) {
        await taken.giveBack()
        throw tooMany(reply, taken.ttl, 'mfa-code-failures')
      }
      return { uncount: taken.giveBack }
    }
  } satisfies MfaThrottle)

  if (!config.rateLimit) {
    app.decorate('limits', { login: off, register: off, refresh: off, reset: off, email: off })
    app.decorate('loginThrottle', noThrottle)
    return
  }

  // Every per-address limit has a one-minute window: one store holds them all.
  const addresses = limiter.counter(LOCAL_STORES.perAddress)
  const pairFailures = limiter.counter(LOCAL_STORES.accountAddressFailures)
  const accountFailures = limiter.counter(LOCAL_STORES.accountFailures)
  const knownAddresses = limiter.counter(LOCAL_STORES.knownAddresses)

  function perAddress (name: string, max: number): Guard {
    return async function limitGuard (request, reply) {
      const { current, ttl } = await addresses.hit(`${name}:${addressKey(request.ip)}`)
      if (current > max) throw tooMany(reply, ttl, name)
    }
  }

  const L = LOGIN_LIMITS
  const account = (username: string) => username.toLowerCase().slice(0, 64)
  const keys = (username: string, request: FastifyRequest) => {
    const acct = account(username)
    const addr = addressKey(request.ip)
    return { pair: `login-fail:${acct}:${addr}`, acct: `login-fail:${acct}`, known: `login-known:${acct}:${addr}` }
  }
  const loginThrottle: LoginThrottle = {
    async begin (username, request, reply) {
      const k = keys(username, request)
      const pair = await pairFailures.reserve(k.pair)
      if (pair.current > L.failuresPerAccountAndAddress.max) {
        await pair.giveBack()
        throw tooMany(reply, pair.ttl, 'login-failures-account-address')
      }
      const acct = await accountFailures.reserve(k.acct)
      if (acct.current > L.failuresPerAccount.max && (await knownAddresses.peek(k.known)).current === 0) {
        await Promise.all([pair.giveBack(), acct.giveBack()])
        throw tooMany(reply, acct.ttl, 'login-failures-account')
      }
      return {
        uncount: async () => { await Promise.all([pair.giveBack(), acct.giveBack()]) },
        // "Consecutive" failures: a success starts the count again, and the address stays known 30 days from now.
        succeeded: async () => { await Promise.all([pairFailures.reset(k.pair), accountFailures.reset(k.acct), knownAddresses.renew(k.known)]) }
      }
    }
  }

  app.decorate('limits', {
    login: perAddress('login-ip', L.perAddress.max),
    register: perAddress('register-ip', 20),
    refresh: perAddress('refresh-ip', 60),
    reset: perAddress('reset-ip', 20),
    // The routes that send mail (forgot-password, sign-in codes, a change of address): each may mail someone who did not ask.
    email: perAddress('email-ip', 10)
  })
  app.decorate('loginThrottle', loginThrottle)
}, { name: 'rate-limit', dependencies: ['metrics'] })

declare module 'fastify' {
  interface FastifyInstance {
    limits: { login: Guard, register: Guard, refresh: Guard, reset: Guard, email: Guard }
    loginThrottle: LoginThrottle
    mfaThrottle: MfaThrottle
  }
}
