// Fastify's server options from the configuration: shared by server.ts and the tests.
import { STATUS_CODES, type Server } from 'node:http'
import type { Socket } from 'node:net'
import Fastify, { LogController, type FastifyError, type FastifyHttpOptions, type FastifyInstance, type FastifyReply, type FastifyRequest, type FastifyServerOptions } from 'fastify'
import { pino, type DestinationStream, type LoggerOptions } from 'pino'
import type { Config } from './config.ts'
import { errorBody, refusalOf, BadRequestError, HeadersTooLargeError, InternalError, RequestTimeoutError, type ApiError } from './errors.ts'
import { API_HEADERS } from './plugins/security-headers.ts'

function trustHops (hops: number) {
  return function trustNearest (_address: string, hop: number): boolean { return hop < hops }
}

/** Whether requests log their own lines: at debug and trace only. */
export function perRequestLogs (config: Pick<Config, 'logLevel'>): boolean {
  return config.logLevel === 'debug' || config.logLevel === 'trace'
}

/** The service's logger settings: the level, and no secret in any log line (credentials, cookies and tokens redacted). */
export function loggerOptions (config: Pick<Config, 'logLevel'>): LoggerOptions {
  return {
    level: config.logLevel,
    redact: {
      paths: [
        'req.headers.authorization', 'req.headers.cookie', 'req.headers["x-csrf-token"]', 'res.headers["set-cookie"]',
        'password', '*.password', 'body.password', 'refresh_token', '*.refresh_token', 'access_token', '*.access_token'
      ],
      censor: '[redacted]'
    },
    serializers: { req: requestForLog }
  }
}

/**
 * A request as a log line shows it. The query of an OpenID Connect callback
 * holds the provider's one-time code and the state: it is left out.
 */
function requestForLog (req: { method: string, url: string, host?: string, ip?: string, socket?: { remotePort?: number } }) {
  const url = /^\/auth\/oidc\/[^/?]+\/callback\?/.test(req.url) ? req.url.replace(/\?.*$/, '?[redacted]') : req.url
  return { method: req.method, url, host: req.host, remoteAddress: req.ip, remotePort: req.socket?.remotePort }
}

/** Refusals Fastify makes before routing (a bad percent-encoding, an over-long path parameter): the API's shape and codes, not Fastify's echo of the path. */
function frameworkErrors (err: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const e = err.statusCode !== undefined && err.statusCode < 500 ? refusalOf(err) : new InternalError(request.id) as Error & ApiError
  reply.code(e.statusCode).headers(API_HEADERS).type('application/json; charset=utf-8').send(JSON.stringify(errorBody(e)))
}

/** What Node's HTTP parser refuses (headers too large, Content-Length with Transfer-Encoding, a stalled request), in the API's shape; the connection then closes. */
const parserErrors: Record<string, () => Error> = {
  HPE_HEADER_OVERFLOW: () => new HeadersTooLargeError(),
  ERR_HTTP_REQUEST_TIMEOUT: () => new RequestTimeoutError()
}
function clientErrorHandler (err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return
  if (socket.writable) {
    const e = (parserErrors[err.code ?? '']?.() ?? new BadRequestError()) as Error & ApiError
    const body = JSON.stringify(errorBody(e))
    const headers = Object.entries(API_HEADERS).map(([name, value]) => `${name}: ${value}\r\n`).join('')
    socket.write(`HTTP/1.1 ${e.statusCode} ${STATUS_CODES[e.statusCode]}\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\n${headers}connection: close\r\n\r\n${body}`)
  }
  socket.destroy()
}

type LoggerSetting = boolean | (LoggerOptions & { stream?: DestinationStream })

/**
 * The Fastify instance with the service's logger. Below debug, Fastify
 * itself is given no logger: with one, it hangs finish listeners, a child
 * logger and a log controller on every request (about 5 µs of CPU each,
 * measured against a bare app), for lines that are not written at those
 * levels. The service's own lines (start-up, security events, errors) go to
 * the same pino logger, put in place as `server.log` (plugins inherit it).
 */
export function createServer (config: Config, extra: Partial<FastifyServerOptions> & { logger?: LoggerSetting } = {}): FastifyInstance {
  const setting: LoggerSetting = extra.logger ?? loggerOptions(config)
  if (perRequestLogs(config) || setting === false) return Fastify(serverOptions(config, extra))
  const { stream, ...options }: LoggerOptions & { stream?: DestinationStream } = setting === true ? loggerOptions(config) : setting
  const server = Fastify(serverOptions(config, { ...extra, logger: false }))
  const merged = { ...loggerOptions(config), ...options }
  server.log = stream === undefined ? pino(merged) : pino(merged, stream)
  return server
}

export function serverOptions (config: Config, extra: Partial<FastifyServerOptions> = {}): FastifyHttpOptions<Server> {
  return {
    logger: loggerOptions(config),
    // Fastify's two lines per request ("incoming request", "request
    // completed") only where they are asked for: at debug and trace. At info
    // and above a request logs nothing (security events log themselves), and
    // costs no logger call.
    logController: new LogController({ disableRequestLogging: !perRequestLogs(config) }),
    // A hop count trusts that many proxies nearest the service (Fastify's own
    // number form trusts none); addresses and CIDRs are the stricter choice.
    trustProxy: typeof config.trustProxy === 'number' ? trustHops(config.trustProxy) : config.trustProxy,
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
    // Start-up applies migrations and warms the hashing threads: on a loaded
    // machine (a rolling deploy, CI) that outlasts Fastify's default 10 s per plugin.
    pluginTimeout: 60_000,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    routerOptions: { maxParamLength: 200 },
    frameworkErrors,
    clientErrorHandler,
    ajv: { customOptions: { coerceTypes: false, removeAdditional: true, allErrors: false } },
    ...extra
  }
}
