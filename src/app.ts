// The service as a Fastify plugin: tests build it with inject, server.ts listens.
import fp from 'fastify-plugin'
import cors from '@fastify/cors'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Config } from './config.ts'
import type { Database } from './db/database.ts'
import { bearerErrors, dpopErrors, errorBody, errorCodes, refusalOf, InternalError, ServiceUnavailableError } from './errors.ts'
import dbPlugin from './plugins/db.ts'
import revocationListPlugin from './plugins/revocation-list.ts'
import tokensPlugin from './plugins/tokens.ts'
import dpopPlugin from './plugins/dpop.ts'
import servicesPlugin from './plugins/services.ts'
import rateLimitPlugin from './plugins/rate-limit.ts'
import metricsPlugin from './plugins/metrics.ts'
import securityHeaders, { noStore, pageHeaders } from './plugins/security-headers.ts'
import signingKeysPlugin from './plugins/signing-keys.ts'
import mailPlugin from './plugins/mail.ts'
import healthRoutes from './routes/health.ts'
import wellKnownRoutes from './routes/well-known.ts'
import authRoutes from './routes/auth/index.ts'
import adminUserRoutes from './routes/admin/users.ts'
import adminKeyRoutes from './routes/admin/keys.ts'
import adminEventRoutes from './routes/admin/events.ts'
import consoleUserRoutes from './routes/admin/console-users.ts'
import adminConsole from './routes/admin/console.ts'
import eventsPlugin from './plugins/events.ts'
import revocationFeedRoutes from './routes/revocation-feed.ts'
import { ErrorSchema } from './routes/auth/schemas.ts'

export interface AppOptions {
  config: Config
  db: Database
  /** Redis key and channel prefix (tests isolate suites with it). */
  redisPrefix?: string
}

/**
 * Returns the reply: the async error handler hands it back, so that Fastify
 * knows the answer is under way even while an async onSend hook (the
 * events' wait) still runs, and does not send a second, empty one.
 */
function send (reply: FastifyReply, status: number, code: string, message: string): FastifyReply {
  const challenge = bearerErrors[code] ?? dpopErrors[code]
  if (challenge !== undefined) reply.header('www-authenticate', challenge)
  return reply.code(status).send(errorBody({ statusCode: status, code, message }))
}

async function app (fastify: FastifyInstance, opts: AppOptions): Promise<void> {
  const { config, db } = opts

  fastify.setErrorHandler(async function errorHandler (err: FastifyError, request: FastifyRequest, reply: FastifyReply) {
    const status = err.validation !== undefined ? 400 : err.statusCode ?? 500
    if (status < 500) {
      const refusal = refusalOf(err)
      if (refusal.statusCode === 429 && reply.getHeader('retry-after') === undefined) reply.header('retry-after', '60')
      return send(reply, refusal.statusCode, refusal.code, refusal.message)
    }
    if (err.code === 'SERVICE_UNAVAILABLE') return send(reply, 503, 'SERVICE_UNAVAILABLE', new ServiceUnavailableError().message)
    // Another service that cannot be reached, under its own code (an identity provider): its fixed message, never the cause.
    if (status === 503 && errorCodes.has(err.code)) {
      fastify.log.warn({ reqId: request.id, code: err.code, cause: (err.cause as Error | undefined)?.message }, 'an outside service is unavailable')
      return send(reply, 503, err.code, err.message)
    }
    // A database error while the database is unreachable is an outage, not a bug.
    const dbDown = await db.ping().then(() => false, () => true)
    if (dbDown) {
      fastify.log.warn({ reqId: request.id, err: { message: err.message, code: err.code } }, 'database unavailable')
      return send(reply, 503, 'SERVICE_UNAVAILABLE', new ServiceUnavailableError().message)
    }
    fastify.log.error({ reqId: request.id, err }, 'request failed')
    return send(reply, 500, 'INTERNAL', new InternalError(request.id).message)
  })
  fastify.setNotFoundHandler(function notFound (request, reply) {
    fastify.metrics.unmatched(request, reply)
    // The path is not echoed back: an answer carries nothing a caller sent.
    send(reply, 404, 'NOT_FOUND', 'No route matches this method and path')
  })

  // JSON in, JSON out: anything else is 415, not a string that reaches a handler.
  fastify.removeContentTypeParser('text/plain')

  // Headers by route kind (plugins/security-headers.ts): the JSON API's baseline on every answer.
  await fastify.register(securityHeaders)
  if (config.corsOrigins.length > 0) {
    await fastify.register(cors, {
      origin: config.corsOrigins,
      credentials: true,
      methods: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'],
      allowedHeaders: ['Authorization', 'Content-Type', 'X-Auth-Mode', 'X-CSRF-Token', 'DPoP'],
      // What a client library reads: the DPoP nonce and challenge, how long to
      // wait after a 429, and the server's clock (token expiry on a device whose clock is off).
      exposedHeaders: ['DPoP-Nonce', 'WWW-Authenticate', 'Retry-After', 'Date'],
      maxAge: 600
    })
  }
  await fastify.register(swagger, {
    openapi: {
      info: { title: 'Auth service', version: '0.1.0', description: 'Register, log in, stay logged in safely. The contract in prose, with the cookies, limits and configuration: docs/api.md in the repository.' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } } }
    }
  })
  // The browsable pages: a browser's header set, and their own CSP (they load
  // scripts), framed by no one.
  await fastify.register(async function docsPages (docs) {
    pageHeaders(docs)
    await docs.register(swaggerUi, { routePrefix: '/docs', staticCSP: true, transformStaticCSP: (csp) => csp.replace("frame-ancestors 'self'", "frame-ancestors 'none'") })
  })
  await fastify.register(dbPlugin, { db, migrate: config.migrateOnStart })
  await fastify.register(revocationListPlugin, { redis: config.redis, redisPrefix: opts.redisPrefix, pollIntervalMs: config.revocationPollInterval * 1000 })
  await fastify.register(signingKeysPlugin, { config })
  await fastify.register(dpopPlugin, { config, redisPrefix: opts.redisPrefix })
  await fastify.register(tokensPlugin, { ttl: config.accessTokenTtl, issuer: config.jwtIssuer, audience: config.jwtAudience })
  await fastify.register(servicesPlugin, { config })
  await fastify.register(mailPlugin, { config })
  await fastify.register(eventsPlugin, { config })
  await fastify.register(metricsPlugin, { port: config.metricsPort, host: config.metricsHost })
  await fastify.register(rateLimitPlugin, { config, redisPrefix: opts.redisPrefix })

  // The admin console: static pages under their own CSP (routes/admin/console.ts).
  if (config.adminConsole) await fastify.register(adminConsole)
  await fastify.register(healthRoutes)
  await fastify.register(wellKnownRoutes, { maxAge: config.jwksMaxAge })
  fastify.addSchema(ErrorSchema)
  // Tokens and personal data: never cached. Cookies are parsed only by the
  // routes that read or set them (routes/auth/token-response.ts withCookies).
  await fastify.register(async function privateRoutes (api) {
    noStore(api)
    await api.register(authRoutes, { prefix: '/auth', config })
    await api.register(adminUserRoutes, { prefix: '/admin' })
    await api.register(adminKeyRoutes, { prefix: '/admin' })
    await api.register(adminEventRoutes, { prefix: '/admin' })
    await api.register(consoleUserRoutes, { prefix: '/admin' })
    await api.register(revocationFeedRoutes, { prefix: '/auth', feedToken: config.revocationFeedToken })
  })
}

export default fp(app, { name: 'auth-service' })
