// Prometheus metrics (prom-client) on a listener of their own, METRICS_HOST:
// METRICS_PORT, never on the API port. Labels are low-cardinality: route
// templates, status classes, outcomes, scopes; never a user, token or
// address. With METRICS_PORT unset the decorator is a set of no-ops and no
// hook is added: the metrics cost nothing when they are off.
import fp from 'fastify-plugin'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'

export type LoginResult = 'ok' | 'failed'
/** How the login was made: a password alone, a first step and its second step (counted at the second step), a passkey, a provider. */
export type LoginMethod = 'password' | 'mfa' | 'passkey' | 'oidc' | 'email'
export type RefreshResult = 'ok' | 'grace' | 'reuse_detected' | 'refused'

export interface Metrics {
  enabled: boolean
  login: (result: LoginResult, method?: LoginMethod) => void
  refresh: (result: RefreshResult) => void
  rateLimited: (limit: string) => void
  /** A request that matched no route (called by the not-found handler). */
  unmatched: (request: FastifyRequest, reply: FastifyReply) => void
  /** The metrics listener's address, when on. */
  address: () => AddressInfo | undefined
}

const off: Metrics = { enabled: false, login: () => {}, refresh: () => {}, rateLimited: () => {}, unmatched: () => {}, address: () => undefined }

export default fp(async function metricsPlugin (app, opts: { port?: number, host: string }) {
  if (opts.port === undefined) {
    app.decorate('metrics', off)
    return
  }
  const registry = new Registry()
  collectDefaultMetrics({ register: registry })
  const m = {
    requests: new Histogram({ name: 'auth_http_request_duration_seconds', help: 'API request durations, by route template, method and status class', labelNames: ['route', 'method', 'status_class'], buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5], registers: [registry] }),
    logins: new Counter({ name: 'auth_logins_total', help: 'Logins by method (password, mfa: a first step and its second step, passkey, oidc: a provider) and result', labelNames: ['method', 'result'], registers: [registry] }),
    refreshes: new Counter({ name: 'auth_refreshes_total', help: 'Refreshes by result: ok, grace (a spent token answered inside REFRESH_REUSE_GRACE), reuse_detected (session ended), refused', labelNames: ['result'], registers: [registry] }),
    revocations: new Counter({ name: 'auth_revocations_total', help: 'Revocations this instance made, by scope: session, user, key', labelNames: ['scope'], registers: [registry] }),
    limited: new Counter({ name: 'auth_rate_limited_total', help: 'Requests refused by a rate limit, by limit', labelNames: ['limit'], registers: [registry] }),
    lag: new Histogram({ name: 'auth_revocation_propagation_seconds', help: 'Time from a revocation being published on one instance to this one hearing it', buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5], registers: [registry] })
  }
  for (const method of ['password', 'mfa', 'passkey', 'oidc', 'email']) for (const result of ['ok', 'failed']) m.logins.inc({ method, result }, 0)
  for (const result of ['ok', 'grace', 'reuse_detected', 'refused']) m.refreshes.inc({ result }, 0)
  for (const scope of ['session', 'user', 'key']) m.revocations.inc({ scope }, 0)

  const revocations = app.revocations
  revocations.hooks.published = (kind) => { if (kind !== 'key-set') m.revocations.inc({ scope: kind }) }
  revocations.hooks.received = (lagMs) => m.lag.observe(lagMs / 1000)
  // Read at scrape time: nothing to do per request.
  const gauges = [
    new Counter({ name: 'auth_revocation_mirror_resyncs_total', help: 'Full re-reads of the revocation mirror (start-up, reconnects, a silent channel)', registers: [], collect () { this.reset(); this.inc(revocations.syncs) } }),
    new Gauge({ name: 'auth_revocation_mirror_trusted', help: '1 while the revocation mirror is trusted, 0 while the service fails closed', registers: [], collect () { this.set(revocations.trusted ? 1 : 0) } }),
    new Gauge({ name: 'auth_revocation_mirror_entries', help: 'Revocations held in memory, by kind', labelNames: ['kind'], registers: [], collect () { const s = revocations.size(); this.set({ kind: 'session' }, s.sessions); this.set({ kind: 'user' }, s.users); this.set({ kind: 'key' }, s.keys) } }),
    new Gauge({ name: 'auth_db_pool_connections', help: 'Database connections by state (PostgreSQL)', labelNames: ['state'], registers: [], collect () { const p = app.db.poolStats?.(); if (p !== undefined) { this.set({ state: 'total' }, p.total); this.set({ state: 'idle' }, p.idle); this.set({ state: 'waiting' }, p.waiting) } } }),
    new Gauge({ name: 'auth_mail_outbox_queued', help: 'Mails in the outbox not yet sent nor given up (as of the sender\'s last look)', registers: [], collect () { this.set(app.mail?.sender?.stats().queued ?? 0) } }),
    new Counter({ name: 'auth_mail_failures_total', help: 'Failed attempts to send a mail (retried, or given up after the last)', registers: [], collect () { this.reset(); this.inc(app.mail?.sender?.stats().failures ?? 0) } }),
    new Gauge({ name: 'auth_password_hash_queue', help: 'Password hashes and comparisons waiting for a worker', registers: [], collect () { this.set(app.passwords.stats().queued) } }),
    // Webhooks (events/webhooks.ts): read at scrape time, this instance's sender only.
    new Gauge({ name: 'auth_webhook_queue', help: 'Webhook deliveries neither delivered nor given up on (every instance\'s, from the outbox)', registers: [], async collect () { if (app.webhooks !== null) this.set(await app.webhooks.pending()) } }),
    new Counter({ name: 'auth_webhook_failures_total', help: 'Webhook attempts this instance made that failed (not 2xx, timed out, unreachable)', registers: [], collect () { this.reset(); if (app.webhooks !== null) this.inc(app.webhooks.stats().failures) } }),
    new Gauge({ name: 'auth_password_hash_seconds', help: 'Time one hash or comparison takes in a worker (piscina run time), by quantile', labelNames: ['quantile'], registers: [], collect () { const s = app.passwords.stats(); this.set({ quantile: '0.5' }, s.p50 / 1000); this.set({ quantile: '0.99' }, s.p99 / 1000) } })
  ]
  for (const g of gauges) registry.registerMetric(g)

  // One observer per route, made when the route is added: the route template
  // is known then, so a request costs a child lookup by method and status
  // (bounded: methods x statuses) and an observe. (Reading the template per
  // request through request.routeOptions builds an object of twelve fields
  // each time.) The clock starts in the route's first onRequest hook and the
  // duration is taken in onSend, when the answer is ready to be written: an
  // onResponse hook would make Fastify hang a finish and an error listener on
  // every response, which cost more than the metric itself.
  type Child = { observe: (seconds: number) => void }
  function observerFor (route: string) {
    const children = new Map<string, Child>()
    return (request: FastifyRequest, status: number, seconds: number) => {
      const key = request.method + status
      let child = children.get(key)
      if (child === undefined) {
        child = m.requests.labels(route, request.method, `${Math.floor(status / 100)}xx`)
        children.set(key, child)
      }
      child.observe(seconds)
    }
  }
  const asArray = <T>(hooks: T | T[] | undefined): T[] => hooks === undefined ? [] : Array.isArray(hooks) ? hooks : [hooks]
  app.decorateRequest('metricsStart', 0)
  function startClock (request: FastifyRequest, _reply: FastifyReply, done: () => void) {
    request.metricsStart = performance.now()
    done()
  }
  app.addHook('onRoute', function observeRoute (route) {
    const observe = observerFor(route.url ?? route.path)
    function observeRequest (request: FastifyRequest, reply: FastifyReply, payload: unknown, done: (err: null, payload: unknown) => void) {
      observe(request, reply.statusCode, request.metricsStart === 0 ? 0 : (performance.now() - request.metricsStart) / 1000)
      done(null, payload)
    }
    route.onRequest = [startClock, ...asArray(route.onRequest)] as typeof route.onRequest
    route.onSend = [...asArray(route.onSend), observeRequest] as typeof route.onSend
  })
  // Requests that match no route are observed by the not-found handler, from when it runs.
  const unmatched = observerFor('unmatched')
  const observeUnmatched = (request: FastifyRequest, reply: FastifyReply) => {
    const start = performance.now()
    reply.raw.once('finish', () => { unmatched(request, reply.statusCode, (performance.now() - start) / 1000) })
  }

  const server: Server = createServer((req, res) => {
    if (req.method !== 'GET' || req.url?.split('?')[0] !== '/metrics') {
      res.writeHead(404).end()
      return
    }
    registry.metrics().then((text) => {
      res.writeHead(200, { 'content-type': registry.contentType }).end(text)
    }, () => { res.writeHead(500).end() })
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(opts.port, opts.host, () => resolve())
  })
  app.addHook('onClose', async () => { await new Promise((resolve) => server.close(resolve)) })
  app.log.info({ metrics: server.address() }, 'metrics listening')

  app.decorate('metrics', {
    enabled: true,
    login: (result: LoginResult, method: LoginMethod = 'password') => m.logins.inc({ method, result }),
    refresh: (result: RefreshResult) => m.refreshes.inc({ result }),
    rateLimited: (limit: string) => m.limited.inc({ limit }),
    unmatched: observeUnmatched,
    address: () => server.address() as AddressInfo
  } satisfies Metrics)
}, { name: 'metrics', dependencies: ['db', 'revocation-list', 'services'] })

declare module 'fastify' {
  interface FastifyInstance {
    metrics: Metrics
  }
  interface FastifyRequest {
    /** performance.now() when the route's hooks began (metrics on). */
    metricsStart: number
  }
}
