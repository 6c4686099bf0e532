// Abuse limits, only on the routes that have one: in Redis when REDIS_URL is
// set so every instance shares them, in process otherwise and while Redis is
// unreachable. RATE_LIMIT=off turns every limit off.
//
// Login failures are counted per account *and* address: a guesser is stopped
// on the addresses it guesses from, and cannot lock the user out from theirs.
// An account-wide ceiling on consecutive failures (NIST SP 800-63B 5.2.2)
// holds against a guesser with many addresses, and still lets the user in
// from an address they signed in from before.
import fp from 'fastify-plugin'
import { createCommandRedis, type Connection } from '../services/redis-connection.ts'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { Config } from '../config.ts'
import { TooManyRequestsError } from '../errors.ts'
import { addressKey, createLimiter } from '../services/limiter.ts'

type Guard = (request: FastifyRequest, reply: FastifyReply) => Promise<void>

const MINUTE = 60_000
export const LOGIN_LIMITS = {
  perAddress: { max: 30, windowMs: MINUTE },
  failuresPerAccountAndAddress: { max: 10, windowMs: 15 * MINUTE },
  failuresPerAccount: { max: 100, windowMs: 15 * MINUTE },
  knownAddressMs: 30 * 24 * 60 * MINUTE
}

export interface LoginThrottle {
  /** Throws 429 when this account may not be tried from this address now. */
  check: (username: string, request: FastifyRequest, reply: FastifyReply) => Promise<void>
  failed: (username: string, request: FastifyRequest) => Promise<void>
  succeeded: (username: string, request: FastifyRequest) => Promise<void>
}

/** Wrong second-factor codes, per account: 5 in 15 min (a 6-digit code must not be guessable). */
export const MFA_CODE_LIMIT = { max: 5, windowMs: 15 * MINUTE }

export interface MfaThrottle {
  /** Throws 429 once the account has had MFA_CODE_LIMIT wrong codes in the window. */
  check: (userId: string, reply: FastifyReply) => Promise<void>
  failed: (userId: string) => Promise<void>
}

const off: Guard = async () => {}
const noThrottle: LoginThrottle = { check: async () => {}, failed: async () => {}, succeeded: async () => {} }

export default fp(async function rateLimitPlugin (app, opts: { config: Config, redisPrefix?: string }) {
  const { config } = opts
  let redis: Connection | undefined
  if (config.redis !== undefined) {
    redis = createCommandRedis(config.redis)
    app.addHook('onClose', async () => { redis?.shutdown() })
  }
  const limiter = createLimiter(redis, `${opts.redisPrefix ?? 'auth:'}rl:`)
  function tooMany (reply: FastifyReply, ttlMs: number, limit: string): Error {
    app.metrics.rateLimited(limit)
    reply.header('retry-after', String(Math.max(1, Math.ceil(ttlMs / 1000))))
    return new TooManyRequestsError()
  }

  // Always on, RATE_LIMIT=off included: without it a 6-digit code falls to a million tries.
  app.decorate('mfaThrottle', {
    async check (userId, reply) {
      const { current, ttl } = await limiter.peek(`mfa-fail:${userId}`, MFA_CODE_LIMIT.windowMs)
      if (current >= MFA_CODE_LIMIT.max) throw tooMany(reply, ttl, 'mfa-code-failures')
    },
    async failed (userId) {
      await limiter.hit(`mfa-fail:${userId}`, MFA_CODE_LIMIT.windowMs)
    }
  } satisfies MfaThrottle)

  if (!config.rateLimit) {
    app.decorate('limits', { login: off, register: off, refresh: off, reset: off })
    app.decorate('loginThrottle', noThrottle)
    return
  }

  function perAddress (name: string, max: number, windowMs: number): Guard {
    return async function limitGuard (request, reply) {
      const { current, ttl } = await limiter.hit(`${name}:${addressKey(request.ip)}`, windowMs)
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
    async check (username, request, reply) {
      const k = keys(username, request)
      const pair = await limiter.peek(k.pair, L.failuresPerAccountAndAddress.windowMs)
      if (pair.current >= L.failuresPerAccountAndAddress.max) throw tooMany(reply, pair.ttl, 'login-failures-account-address')
      const acct = await limiter.peek(k.acct, L.failuresPerAccount.windowMs)
      if (acct.current >= L.failuresPerAccount.max && (await limiter.peek(k.known, L.knownAddressMs)).current === 0) throw tooMany(reply, acct.ttl, 'login-failures-account')
    },
    async failed (username, request) {
      const k = keys(username, request)
      await Promise.all([limiter.hit(k.pair, L.failuresPerAccountAndAddress.windowMs), limiter.hit(k.acct, L.failuresPerAccount.windowMs)])
    },
    async succeeded (username, request) {
      const k = keys(username, request)
      // "Consecutive" failures: a success starts the count again.
      await Promise.all([limiter.reset(k.pair), limiter.reset(k.acct), limiter.hit(k.known, L.knownAddressMs)])
    }
  }

  app.decorate('limits', {
    login: perAddress('login-ip', L.perAddress.max, L.perAddress.windowMs),
    register: perAddress('register-ip', 20, MINUTE),
    refresh: perAddress('refresh-ip', 60, MINUTE),
    reset: perAddress('reset-ip', 20, MINUTE)
  })
  app.decorate('loginThrottle', loginThrottle)
}, { name: 'rate-limit', dependencies: ['metrics'] })

declare module 'fastify' {
  interface FastifyInstance {
    limits: { login: Guard, register: Guard, refresh: Guard, reset: Guard }
    loginThrottle: LoginThrottle
    mfaThrottle: MfaThrottle
  }
}
