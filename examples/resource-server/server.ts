// An API of another team that accepts the auth service's access tokens
// without calling it on every request:
// - signatures: the service's JWKS through jose, cached as its
//   Cache-Control says and fetched again (at most once per cooldown) when a
//   token names a key it does not know: a rotation needs nothing from here;
// - revocations: GET /auth/revocations polled every few seconds into a
//   mirror of its own (sessions, users' minimum token versions, revoked
//   keys). While the feed cannot be read for a while, it fails closed (503).
//
// Run: AUTH_URL=http://127.0.0.1:3000 REVOCATION_FEED_TOKEN=… npm run example:resource-server
import { realpathSync } from 'node:fs'
import { pathToFileURL } from 'node:url'
import Fastify, { type FastifyInstance } from 'fastify'
import { createRemoteJWKSet, jwtVerify, errors } from 'jose'

export interface ResourceServerOptions {
  authUrl: string
  feedToken: string
  issuer?: string
  audience?: string
  pollMs?: number
  /** How long the last good read of the feed may be trusted. */
  staleMs?: number
}

export async function createResourceServer (opts: ResourceServerOptions): Promise<FastifyInstance> {
  const pollMs = opts.pollMs ?? 2000
  const staleMs = opts.staleMs ?? pollMs * 3
  const jwks = createRemoteJWKSet(new URL('/.well-known/jwks.json', opts.authUrl), { cooldownDuration: 1000 })
  const sessions = new Map<string, number>()
  const users = new Map<string, { version: number, until: number }>()
  const keys = new Map<string, number>()
  let cursor = 0
  let lastRead = 0

  async function pull (): Promise<void> {
    const res = await fetch(new URL(`/auth/revocations?since=${cursor}`, opts.authUrl), { headers: { authorization: `Bearer ${opts.feedToken}` } })
    if (!res.ok) throw new Error(`revocation feed: ${res.status}`)
    const body = await res.json() as { entries: Array<{ kind: string, id: string, version?: number, until: number }>, next: number }
    for (const e of body.entries) {
      if (e.kind === 'session') sessions.set(e.id, e.until)
      else if (e.kind === 'key') keys.set(e.id, e.until)
      else if (e.kind === 'user' && (users.get(e.id)?.version ?? -1) < (e.version ?? 0)) users.set(e.id, { version: e.version ?? 0, until: e.until })
    }
    const now = Date.now()
    for (const map of [sessions, keys]) for (const [id, until] of map) if (until <= now) map.delete(id)
    for (const [id, u] of users) if (u.until <= now) users.delete(id)
    cursor = body.next
    lastRead = now
  }

  const app = Fastify({ logger: false })
  await pull().catch(() => {})
  const timer = setInterval(() => { pull().catch(() => {}) }, pollMs)
  timer.unref()
  app.addHook('onClose', async () => { clearInterval(timer) })

  app.decorateRequest('user', null)
  app.addHook('onRequest', async function authenticate (request, reply) {
    const m = /^Bearer ([A-Za-z0-9._~+/-]+=*)$/.exec(request.headers.authorization ?? '')
    if (m === null) return reply.code(401).header('www-authenticate', 'Bearer').send({ code: 'TOKEN_MISSING' })
    let verified
    try {
      verified = await jwtVerify(m[1], jwks, {
        issuer: opts.issuer ?? 'auth-service',
        audience: opts.audience ?? 'auth-service',
        typ: 'at+jwt',
        algorithms: ['ES256', 'EdDSA']
      })
    } catch (err) {
      const code = err instanceof errors.JWTExpired ? 'TOKEN_EXPIRED' : 'TOKEN_INVALID'
      return reply.code(401).header('www-authenticate', 'Bearer error="invalid_token"').send({ code })
    }
    // Fail closed: revocations older than staleMs may be missing.
    if (Date.now() - lastRead > staleMs) return reply.code(503).send({ code: 'SERVICE_UNAVAILABLE' })
    const { payload, protectedHeader } = verified
    const minVersion = users.get(payload.sub ?? '')?.version ?? 0
    if (keys.has(protectedHeader.kid ?? '') || sessions.has(String(payload.sid)) || (Number(payload.ver ?? 0)) < minVersion) {
      return reply.code(401).header('www-authenticate', 'Bearer error="invalid_token"').send({ code: 'TOKEN_REVOKED' })
    }
    ;(request as unknown as { user: unknown }).user = payload
  })

  app.get('/api/hello', async function hello (request) {
    const user = (request as unknown as { user: { preferred_username: string } }).user
    return { message: `Hello from the resource server, ${user.preferred_username}` }
  })
  return app
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href) {
  const authUrl = process.env.AUTH_URL ?? 'http://127.0.0.1:3000'
  const feedToken = process.env.REVOCATION_FEED_TOKEN
  if (feedToken === undefined) {
    console.error('REVOCATION_FEED_TOKEN must be set, to the value the auth service has')
    process.exit(1)
  }
  const app = await createResourceServer({ authUrl, feedToken })
  await app.listen({ port: Number(process.env.PORT ?? 4000), host: '127.0.0.1' })
  console.log(`resource server on http://127.0.0.1:${process.env.PORT ?? 4000}, verifying tokens of ${authUrl}`)
}
