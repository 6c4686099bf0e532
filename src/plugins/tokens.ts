// Access tokens, signed and verified by @fastify/jwt: signed with the
// keyring's current key, verified with the key their `kid` names (its
// `secret.public` is a function of the decoded token, and it keeps one
// fast-jwt verifier per key it returns), with the algorithms, issuer,
// audience and `typ` pinned. An unknown kid is refused before any key is
// looked up. A verified token is cached (keyed by the token, never past its
// `exp`, see tokens/verified-cache.ts), so the signature is not checked
// again on every request; the revocation checks always are, the key's
// included.
import fp from 'fastify-plugin'
import fastifyJwt from '@fastify/jwt'
import { randomUUID } from 'node:crypto'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { ForbiddenError, TokenExpiredError, TokenInvalidError, TokenMissingError, TokenRevokedError } from '../errors.ts'
import { VerifiedTokens } from '../tokens/verified-cache.ts'
import { ACCESS_TOKEN_TYP, AUTHORIZATION, isClaims, kidOf, type AccessClaims, type SignIn, type TokenUser } from '../tokens/claims.ts'

const VERIFIED_CACHE_SIZE = 10_000

interface Verified { claims: AccessClaims, kid: string, exp: number }
/** A verified token as presented: its scheme (Bearer or DPoP) and the token itself. */
interface Presented { entry: Verified, dpop: boolean, token: string }

export default fp(async function tokensPlugin (app, opts: { ttl: number, issuer: string, audience: string }) {
  const { ttl } = opts
  const { keyring } = app.keys

  await app.register(fastifyJwt, {
    secret: {
      // Tokens are signed with the key named at each sign() below; this serves reply.jwtSign.
      private: (_request: FastifyRequest, _payload: unknown, done: (err: Error | null, key?: string) => void) => { done(null, keyring.signer().key) },
      public: (_request: FastifyRequest, decoded: { header: { kid?: unknown, alg?: unknown } }, done: (err: Error | null, key?: string) => void) => {
        const key = typeof decoded.header.kid === 'string' ? keyring.verifier(decoded.header.kid) : undefined
        // The kid's own algorithm, not the one the token claims (RFC 8725 section 3.1).
        if (key === undefined || decoded.header.alg !== key.alg) done(new TokenInvalidError())
        else done(null, key.key)
      }
    },
    decode: { complete: true },
    sign: { iss: opts.issuer, aud: opts.audience, header: { typ: ACCESS_TOKEN_TYP } },
    verify: {
      algorithms: keyring.algorithms,
      allowedIss: opts.issuer,
      allowedAud: opts.audience,
      checkTyp: ACCESS_TOKEN_TYP,
      requiredClaims: ['sub', 'sid', 'jti', 'iat', 'exp', 'iss', 'aud'],
      // Bearer or DPoP (RFC 9449 section 7.1): the scheme is checked by check() below.
      extractToken: (request: FastifyRequest) => AUTHORIZATION.exec(request.headers.authorization ?? '')?.[2]
    },
    decoratorName: 'jwtClaims'
  } as unknown as Parameters<typeof fastifyJwt>[1])

  /** `user` as read in the same statement as its version: the token carries one consistent state. */
  function issue (user: TokenUser, sid: string, signIn: SignIn, dpopJkt?: string | null): { token: string, expiresIn: number } {
    const iat = Math.floor(Date.now() / 1000)
    // Capped at the session's absolute end (ASVS 5.0 V7.3.2): a refresh just before it yields no longer-lived token.
    const exp = Math.max(iat, Math.min(iat + ttl, signIn.endsAt ?? Infinity))
    const claims: Record<string, unknown> = { sub: user.id, sid, jti: randomUUID(), roles: user.roles, preferred_username: user.username, ver: user.tokenVersion, amr: signIn.amr, auth_time: signIn.authTime, iat, exp }
    if (typeof dpopJkt === 'string') claims.cnf = { jkt: dpopJkt }
    if (typeof user.email === 'string') { claims.email = user.email; claims.email_verified = user.emailVerified === true }
    const key = keyring.signer()
    return { token: app.jwt.sign(claims, { key: key.key, kid: key.kid, algorithm: key.alg }), expiresIn: exp - iat }
  }

  const verified = new VerifiedTokens<Verified>(VERIFIED_CACHE_SIZE)

  /**
   * The token of an Authorization header as presented: verified before (from
   * the cache), or to be verified. Throws the API's 401 errors for a missing
   * or malformed header. Does not consult revocations.
   */
  function parse (header: string | undefined): Presented | { token: string, dpop: boolean } {
    if (header === undefined || header === '') throw new TokenMissingError()
    // The common case: "Bearer <a token verified before>".
    if (header.startsWith('Bearer ')) {
      const token = header.slice(7)
      const hit = verified.get(token, Date.now())
      if (hit !== undefined) return presented(hit, false, token)
    }
    const m = AUTHORIZATION.exec(header)
    if (m === null) throw new TokenInvalidError()
    const dpop = m[1].length === 4
    const token = m[2]
    // A Bearer token was looked up above; a DPoP one is looked up here.
    const hit = dpop ? verified.get(token, Date.now()) : undefined
    return hit !== undefined ? presented(hit, dpop, token) : { token, dpop }
  }

  /**
   * A token not verified before: signature and claims, by @fastify/jwt. A bound
   * token (`cnf`) is refused as a Bearer token, an unbound one under the DPoP
   * scheme: the proof is the caller's to check.
   */
  async function verifyNew (request: FastifyRequest, token: string, dpop: boolean): Promise<Presented> {
    const kid = kidOf(token)
    if (kid === undefined || keyring.verifier(kid) === undefined) throw new TokenInvalidError()
    let claims: unknown
    try {
      claims = await request.jwtVerify()
    } catch (err) {
      if ((err as { code?: string }).code === 'FST_JWT_AUTHORIZATION_TOKEN_EXPIRED') throw new TokenExpiredError()
      throw new TokenInvalidError()
    }
    if (!isClaims(claims)) throw new TokenInvalidError()
    const entry = { claims, kid, exp: claims.exp }
    verified.set(token, entry)
    return presented(entry, dpop, token)
  }

  async function check (request: FastifyRequest): Promise<Presented> {
    const p = parse(request.headers.authorization)
    return 'entry' in p ? p : await verifyNew(request, p.token, p.dpop)
  }

  function presented (entry: Verified, dpop: boolean, token: string): Presented {
    if (dpop !== (entry.claims.cnf !== undefined)) throw new TokenInvalidError()
    return { entry, dpop, token }
  }

  /** The claims of a live token with its proof checked when it is bound; for routes that authenticate on their own (logout). */
  async function verifyRequest (request: FastifyRequest, reply: FastifyReply): Promise<AccessClaims> {
    const { entry, token } = await check(request)
    const jkt = entry.claims.cnf?.jkt
    if (jkt !== undefined) await app.dpop.forResource(request, reply, token, jkt)
    return entry.claims
  }

  app.decorate('tokens', { issue, verifyRequest, ttl })
  app.decorateRequest('auth', null)

  /** The revocation checks every use of a token passes, cached or not. */
  function stillGood (p: Presented): AccessClaims {
    // A key revoked in an emergency: its tokens are not ours anymore.
    if (app.revocations.isKeyRevoked(p.entry.kid)) throw new TokenInvalidError()
    if (app.revocations.isRevoked(p.entry.claims)) throw new TokenRevokedError()
    return p.entry.claims
  }

  async function authenticateSlowly (request: FastifyRequest, reply: FastifyReply, p: Presented | { token: string, dpop: boolean }): Promise<void> {
    const full = 'entry' in p ? p : await verifyNew(request, p.token, p.dpop)
    const claims = stillGood(full)
    if (full.dpop) await app.dpop.forResource(request, reply, full.token, claims.cnf!.jkt)
    request.auth = claims
  }

  app.decorate('authenticate', function authenticate (request: FastifyRequest, reply: FastifyReply, done: (err?: Error) => void) {
    let p
    try {
      p = parse(request.headers.authorization)
      // The hot path, synchronous: a Bearer token verified before, not revoked.
      if ('entry' in p && !p.dpop) {
        request.auth = stillGood(p)
        done()
        return
      }
    } catch (err) {
      done(err as Error)
      return
    }
    // A token not seen before (verified once), or a bound one (its proof's jti is remembered on every instance).
    authenticateSlowly(request, reply, p).then(() => { done() }, done)
  })

  app.decorate('requireRole', function requireRole (role: string) {
    return function roleGuard (request: FastifyRequest, _reply: FastifyReply, done: (err?: Error) => void) {
      done(request.auth?.roles.includes(role) === true ? undefined : new ForbiddenError())
    }
  })
}, { name: 'tokens', dependencies: ['revocation-list', 'signing-keys', 'dpop'] })

type Hook = (request: FastifyRequest, reply: FastifyReply, done: (err?: Error) => void) => void

declare module 'fastify' {
  interface FastifyInstance {
    tokens: {
      issue: (user: TokenUser, sid: string, signIn: SignIn, dpopJkt?: string | null) => { token: string, expiresIn: number }
      verifyRequest: (request: FastifyRequest, reply: FastifyReply) => Promise<AccessClaims>
      ttl: number
    }
    authenticate: Hook
    requireRole: (role: string) => Hook
  }
  interface FastifyRequest {
    auth: AccessClaims | null
  }
}
