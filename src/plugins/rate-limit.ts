// Abuse limits (@fastify/rate-limit), in Redis when REDIS_URL is set so every
// instance shares them, in process otherwise. Login is limited per account and
// per client address: a brute force on one account stops without locking
// anyone else out. RATE_LIMIT=off turns every limit off.
import fp from 'fastify-plugin'
import rateLimit from '@fastify/rate-limit'
import { Redis } from 'ioredis'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { Config } from '../config.ts'
import { TooManyRequestsError } from '../errors.ts'

type Guard = (request: FastifyRequest, reply: FastifyReply) => Promise<void>
const off: Guard = async () => {}

export default fp(async function rateLimitPlugin (app, opts: { config: Config, redisPrefix?: string }) {
  const { config } = opts
  if (!config.rateLimit) {
    app.decorate('limits', { login: [off], register: [off], refresh: [off] })
    return
  }
  let redis: Redis | undefined
  if (config.redisUrl !== undefined) {
    redis = new Redis(config.redisUrl, { enableOfflineQueue: false, maxRetriesPerRequest: 1, commandTimeout: 500, connectTimeout: 2000 })
    redis.on('error', () => {})
    app.addHook('onClose', async () => { redis?.disconnect() })
  }
  await app.register(rateLimit, {
    global: true,
    max: 1000,
    timeWindow: '1 minute',
    redis,
    nameSpace: `${opts.redisPrefix ?? 'auth:'}rl:`,
    // While Redis is down the limits lapse; the revocation checks still fail closed.
    skipOnError: true,
    errorResponseBuilder: (_req, ctx) => {
      const err = new TooManyRequestsError()
      ;(err as unknown as { retryAfter: number }).retryAfter = Math.ceil(ctx.ttl / 1000)
      return err
    }
  })

  function guard (options: { max: number, timeWindow: string, key: (r: FastifyRequest) => string | undefined }): Guard {
    const check = app.createRateLimit({ max: options.max, timeWindow: options.timeWindow, keyGenerator: (r) => options.key(r) ?? '' })
    return async function limitGuard (request, reply) {
      if (options.key(request) === undefined) return
      const result = await check(request)
      if (!result.isAllowed && result.isExceeded) {
        reply.header('retry-after', String(result.ttlInSeconds))
        throw new TooManyRequestsError()
      }
    }
  }
  const username = (r: FastifyRequest) => {
    const u = (r.body as { username?: unknown } | undefined)?.username
    return typeof u === 'string' ? 'acct:' + u.toLowerCase().slice(0, 64) : undefined
  }
  app.decorate('limits', {
    login: [
      guard({ max: 30, timeWindow: '1 minute', key: (r) => 'login-ip:' + r.ip }),
      guard({ max: 10, timeWindow: '15 minutes', key: username })
    ],
    register: [guard({ max: 20, timeWindow: '1 minute', key: (r) => 'register-ip:' + r.ip })],
    refresh: [guard({ max: 60, timeWindow: '1 minute', key: (r) => 'refresh-ip:' + r.ip })]
  })
}, { name: 'rate-limit' })

declare module 'fastify' {
  interface FastifyInstance {
    limits: { login: Guard[], register: Guard[], refresh: Guard[] }
  }
}
