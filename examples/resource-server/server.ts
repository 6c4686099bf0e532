// An API of another team that accepts the auth service's access tokens
// without calling it on every request:
// - signatures: the service's JWKS through jose, cached as its
//   Cache-Control says and fetched again (at most once per cooldown) when a
//   token names a key it does not know: a rotation needs nothing from here;
// - revocations: GET /auth/revocations polled every few seconds into a
//   mirror of its own (sessions, users' minimum token versions, revoked
//   keys). While the feed cannot be read for a while, it fails closed (503);
// - sender-constrained tokens (DPoP, RFC 9449): a token bound to a key (a
//   `cnf` claim) is accepted only as `Authorization: DPoP <token>` with a
//   fresh proof signed by that key (section 7), never as a Bearer token: a
//   stolen bound token is worthless without the key.
//
// Run: AUTH_URL=http://127.0.0.1:3000 REVOCATION_FEED_TOKEN=… npm run example:resource-server
import { createHash } from 'node:crypto'
import { realpathSync } from 'node:fs'
import { pathToFileURL } from 'node:url'
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify'
import { EmbeddedJWK, calculateJwkThumbprint, createRemoteJWKSet, jwtVerify, errors, type JWK, type JWTPayload } from 'jose'

export interface ResourceServerOptions {
  authUrl: string
  feedToken: string
  issuer?: string
  audience?: string
  pollMs?: number
  /** How long the last good read of the feed may be trusted. */
  staleMs?: number
  /** This server's own public URL (scheme and host), which DPoP proofs name; default: what the request says. */
  publicUrl?: string
}

const DPOP_ALGS = ['ES256', 'EdDSA']
const PROOF_MAX_AGE_S = 60

export async function createResourceServer (opts: ResourceServerOptions): Promise<FastifyInstance> {
  const pollMs = opts.pollMs ?? 2000
  const staleMs = opts.staleMs ?? pollMs * 3
  const jwks = createRemoteJWKSet(new URL('/.well-known/jwks.json', opts.authUrl), { cooldownDuration: 1000 })
  const sessions = new Map<string, number>()
  const users = new Map<string, { version: number, until: number }>()
  const keys = new Map<string, number>()
  // Proof ids already used, until they are too old to be accepted anyway (one process; several would share them in Redis).
  const spentProofs = new Map<string, number>()
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
    for (const map of [sessions, keys, spentProofs]) for (const [id, until] of map) if (until <= now) map.delete(id)
    for (const [id, u] of users) if (u.until <= now) users.delete(id)
    cursor = body.next
    lastRead = now
  }

  /** The DPoP proof of this request for this access token (RFC 9449 section 4.3), or why it is refused. */
  async function checkProof (request: FastifyRequest, accessToken: string, jkt: string): Promise<string | undefined> {
    const proof = request.headers.dpop
    if (typeof proof !== 'string') return 'no DPoP proof'
    let verified
    try {
      // typ, alg and the signature by the public key in the header (jose refuses a private one).
      verified = await jwtVerify(proof, EmbeddedJWK, { typ: 'dpop+jwt', algorithms: DPOP_ALGS })
    } catch {
      return 'not a valid proof'
    }
    const { payload, protectedHeader } = verified
    if (await calculateJwkThumbprint(protectedHeader.jwk as JWK) !== jkt) return 'signed by another key than the token is bound to'
    if (payload.htm !== request.method) return 'htm does not match'
    const base = opts.publicUrl ?? `${request.protocol}://${request.host}`
    const here = new URL(request.url.split('?')[0], base)
    const htu = URL.canParse(String(payload.htu)) ? new URL(String(payload.htu)) : undefined
    if (htu === undefined || htu.search !== '' || htu.hash !== '' || htu.origin + htu.pathname !== here.origin + here.pathname) return 'htu does not match'
    if (typeof payload.iat !== 'number' || Math.abs(Date.now() / 1000 - payload.iat) > PROOF_MAX_AGE_S) return 'iat too far from now'
    if (payload.ath !== createHash('sha256').update(accessToken).digest('base64url')) return 'ath does not match the token'
    if (typeof payload.jti !== 'string' || spentProofs.has(payload.jti)) return 'jti missing or already used'
    spentProofs.set(payload.jti, Date.now() + 2 * PROOF_MAX_AGE_S * 1000)
    return undefined
  }

  function refuse (reply: FastifyReply, code: string, challenge: string) {
    return reply.code(401).header('www-authenticate', challenge).send({ code })
  }

  const app = Fastify({ logger: false })
  await pull().catch(() => {})
  const timer = setInterval(() => { pull().catch(() => {}) }, pollMs)
  timer.unref()
  app.addHook('onClose', async () => { clearInterval(timer) })

  const claims = new WeakMap<FastifyRequest, JWTPayload>()
  app.addHook('onRequest', async function authenticate (request, reply) {
    // The scheme is case-insensitive (RFC 7235); which one was used matters below.
    const m = /^(Bearer|DPoP) ([A-Za-z0-9._~+/-]+=*)$/i.exec(request.headers.authorization ?? '')
    if (m === null) return refuse(reply, 'TOKEN_MISSING', 'Bearer, DPoP algs="ES256 EdDSA"')
    const [, scheme, token] = m
    let verified
    try {
      verified = await jwtVerify(token, jwks, {
        issuer: opts.issuer ?? 'auth-service',
        audience: opts.audience ?? 'auth-service',
        typ: 'at+jwt',
        algorithms: ['ES256', 'EdDSA']
      })
    } catch (err) {
      const code = err instanceof errors.JWTExpired ? 'TOKEN_EXPIRED' : 'TOKEN_INVALID'
      return refuse(reply, code, 'Bearer error="invalid_token"')
    }
    const { payload, protectedHeader } = verified
    const jkt = (payload.cnf as { jkt?: unknown } | undefined)?.jkt
    if (scheme.toLowerCase() === 'bearer') {
      // A key-bound token as a Bearer token: whoever holds it is not proven to hold the key.
      if (payload.cnf !== undefined) return refuse(reply, 'TOKEN_INVALID', 'DPoP error="invalid_token", algs="ES256 EdDSA"')
    } else {
      if (typeof jkt !== 'string') return refuse(reply, 'TOKEN_INVALID', 'Bearer error="invalid_token"')
      const why = await checkProof(request, token, jkt)
      if (why !== undefined) return refuse(reply, 'DPOP_PROOF_INVALID', `DPoP error="invalid_dpop_proof", error_description="${why}", algs="ES256 EdDSA"`)
    }
    // Fail closed: revocations older than staleMs may be missing.
    if (Date.now() - lastRead > staleMs) return reply.code(503).send({ code: 'SERVICE_UNAVAILABLE' })
    const minVersion = users.get(payload.sub ?? '')?.version ?? 0
    if (keys.has(protectedHeader.kid ?? '') || sessions.has(String(payload.sid)) || (Number(payload.ver ?? 0)) < minVersion) {
      return refuse(reply, 'TOKEN_REVOKED', 'Bearer error="invalid_token"')
    }
    claims.set(request, payload)
  })

  app.get('/api/hello', async function hello (request) {
    return { message: `Hello from the resource server, ${claims.get(request)?.preferred_username}` }
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
  const app = await createResourceServer({ authUrl, feedToken, publicUrl: process.env.PUBLIC_URL })
  await app.listen({ port: Number(process.env.PORT ?? 4000), host: '127.0.0.1' })
  console.log(`resource server on http://127.0.0.1:${process.env.PORT ?? 4000}, verifying tokens of ${authUrl}`)
}
