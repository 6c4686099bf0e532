// Fastify's server options from the configuration: shared by server.ts and the tests.
import type { Server } from 'node:http'
import type { FastifyHttpOptions, FastifyServerOptions } from 'fastify'
import type { Config } from './config.ts'

export function serverOptions (config: Config, extra: Partial<FastifyServerOptions> = {}): FastifyHttpOptions<Server> {
  return {
    logger: {
      level: config.logLevel,
      // No secret in any log line: credentials, cookies and tokens are redacted.
      redact: {
        paths: [
          'req.headers.authorization', 'req.headers.cookie', 'req.headers["x-csrf-token"]', 'res.headers["set-cookie"]',
          'password', '*.password', 'body.password', 'refresh_token', '*.refresh_token', 'access_token', '*.access_token'
        ],
        censor: '[redacted]'
      }
    },
    trustProxy: config.trustProxy,
    bodyLimit: config.bodyLimit,
    // Bounded header and connection times: slow clients cannot hold sockets.
    requestTimeout: config.requestTimeout * 1000,
    // Node checks these deadlines every connectionsCheckingInterval (30 s by
    // default); a shorter interval makes a slow client's deadline real.
    http: {
      headersTimeout: Math.min(config.requestTimeout * 1000, 10_000),
      connectionsCheckingInterval: Math.min(config.requestTimeout * 500, 2000)
    },
    connectionTimeout: config.requestTimeout * 2000,
    keepAliveTimeout: 10_000,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    routerOptions: { maxParamLength: 200 },
    ajv: { customOptions: { coerceTypes: false, removeAdditional: true, allErrors: false } },
    ...extra
  }
}
