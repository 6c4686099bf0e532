// Access tokens: signed with the keyring's current key and verified with the
// key their `kid` names, by fast-jwt (the library under @fastify/jwt, used
// directly because @fastify/jwt holds one key and rotation needs several),
// with the algorithm, issuer, audience and `typ` pinned per key. A verified
// token is cached (keyed by the token, never past its `exp`, see
// services/verified-tokens.ts), so the signature is not checked again on
// every request; the revocation checks always are, the key's included.
import fp from 'fastify-plugin'
import { randomUUID } from 'node:crypto'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { ForbiddenError, TokenExpiredError, TokenInvalidError, TokenMissingError, TokenRevokedError } from '../errors.ts'
import { VerifiedTokens } from '../services/verified-tokens.ts'

export interface AccessClaims {
  sub: string
  sid: string
  jti: string
  iat: number
  exp: number
  roles: string[]
  preferred_username: string
  /** The user's token version when it was issued (services/user-revocation.ts); absent from older tokens. */
  ver?: number
  /** How the session signed in (RFC 8176: pwd, otp, hwk, swk, user) and when (seconds); absent from older tokens. */
  amr?: string[]
  auth_time?: number
  /** The DPoP key the session is bound to (RFC 9449 section 6): only a proof by it makes the token usable. */
  cnf?: { jkt: string }
}

/** How the session signed in, and (epoch seconds) when it ends for good: no access token outlives its session. */
export interface SignIn { amr: string[], authTime: number, endsAt?: number }

export interface TokenUser { id: string, username: string, roles: string[], tokenVersion: number }

interface Verified { claims: AccessClaims, kid: string, exp: number }
/** A verified token as presented: its scheme (Bearer or DPoP) and the token itself. */
interface Presented { entry: Verified, dpop: boolean, token: string }

const VERIFIED_CACHE_SIZE = 10_000
// RFC 6750 b64token, bounded: no header parsing work for absurd inputs. The
// scheme is Bearer, or DPoP for a token bound to a key (RFC 9449 section 7.1).
const AUTHORIZATION = /^(Bearer|DPoP) +([A-Za-z0-9\-._~+/]{1,4096}=*) *$/i
const HEADER_MAX = 512

function isClaims (p: any): p is AccessClaims {
  return p !== null && typeof p === 'object' &&
    typeof p.sub === 'string' && typeof p.sid === 'string' && typeof p.jti === 'string' &&
    typeof p.iat === 'number' && typeof p.exp === 'number' && typeof p.preferred_username === 'string' &&
    Array.isArray(p.roles) && p.roles.every((r: unknown) => typeof r === 'string') &&
    (p.ver === undefined || Number.isSafeInteger(p.ver)) &&
    (p.amr === undefined || (Array.isArray(p.amr) && p.amr.every((r: unknown) => typeof r === 'string'))) &&
    (p.auth_time === undefined || Number.isSafeInteger(p.auth_time)) &&
    (p.cnf === undefined || (p.cnf !== null && typeof p.cnf === 'object' && typeof p.cnf.jkt === 'string'))
}

/** The `kid` of a compact JWS, read before any verification only to pick the key. */
function kidOf (token: string): string | undefined {
  const dot = token.indexOf('.')
  if (dot <= 0 || dot > HEADER_MAX) return undefined
  try {
    const header = JSON.parse(Buffer.from(token.slice(0, dot), 'base64url').toString())
    return typeof header?.kid === 'string' ? header.kid : undefined
  } catch {
    return undefined
  }
}

export default fp(async function tokensPlugin (app, opts: { ttl: number }) {
  const { ttl } = opts
  const { keyring } = app.keys

  /** `user` as read in the same statement as its version: the token carries one consistent state. */
  function issue (user: TokenUser, sid: string, signIn: SignIn, dpopJkt?: string | null): { token: string, expiresIn: number } {
    const iat = Math.floor(Date.now() / 1000)
    // Capped at the session's absolute end (ASVS 5.0 V7.3.2): a refresh just before it yields no longer-lived token.
    const exp = Math.max(iat, Math.min(iat + ttl, signIn.endsAt ?? Infinity))
    const claims: Record<string, unknown> = { sub: user.id, sid, jti: randomUUID(), roles: user.roles, preferred_username: user.username, ver: user.tokenVersion, amr: signIn.amr, auth_time: signIn.authTime, iat, exp }
    if (typeof dpopJkt === 'string') claims.cnf = { jkt: dpopJkt }
    return { token: keyring.signer().sign(claims), expiresIn: exp - iat }
  }

  const verified = new VerifiedTokens<Verified>(VERIFIED_CACHE_SIZE)

  /**
   * Verifies signature and claims, or throws the API's 401 errors. Does not
   * consult revocations. A bound token (`cnf`) is refused as a Bearer token,
   * an unbound one under the DPoP scheme: the proof is the caller's to check.
   */
  function check (header: string | undefined): Presented {
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
    if (hit !== undefined) return presented(hit, dpop, token)
    const kid = kidOf(token)
    const verify = kid === undefined ? undefined : keyring.verifier(kid)
    if (verify === undefined) throw new TokenInvalidError()
    let claims: unknown
    try {
      claims = verify(token)
    } catch (err) {
      if ((err as { code?: string }).code === 'FAST_JWT_EXPIRED') throw new TokenExpiredError()
      throw new TokenInvalidError()
    }
    if (!isClaims(claims)) throw new TokenInvalidError()
    const entry = { claims, kid: kid!, exp: claims.exp }
    verified.set(token, entry)
    return presented(entry, dpop, token)
  }

  function presented (entry: Verified, dpop: boolean, token: string): Presented {
    if (dpop !== (entry.claims.cnf !== undefined)) throw new TokenInvalidError()
    return { entry, dpop, token }
  }

  /** The claims of a live token with its proof checked when it is bound; for routes that authenticate on their own (logout). */
  async function verifyRequest (request: FastifyRequest, reply: FastifyReply): Promise<AccessClaims> {
    const { entry, token } = check(request.headers.authorization)
    const jkt = entry.claims.cnf?.jkt
    if (jkt !== undefined) await app.dpop.forResource(request, reply, token, jkt)
    return entry.claims
  }

  app.decorate('tokens', { issue, verifyRequest, ttl })
  app.decorateRequest('auth', null)

  app.decorate('authenticate', function authenticate (request: FastifyRequest, reply: FastifyReply, done: (err?: Error) => void) {
    let claims: AccessClaims
    let bound: Presented | undefined
    try {
      const p = check(request.headers.authorization)
      claims = p.entry.claims
      // A key revoked in an emergency: its tokens are not ours anymore.
      if (app.revocations.isKeyRevoked(p.entry.kid)) throw new TokenInvalidError()
      if (app.revocations.isRevoked(claims)) throw new TokenRevokedError()
      if (p.dpop) bound = p
    } catch (err) {
      done(err as Error)
      return
    }
    if (bound === undefined) {
      request.auth = claims
      done()
      return
    }
    // Bound: the one asynchronous step, the proof (its jti is remembered on every instance).
    app.dpop.forResource(request, reply, bound.token, claims.cnf!.jkt).then(() => {
      request.auth = claims
      done()
    }, done)
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
