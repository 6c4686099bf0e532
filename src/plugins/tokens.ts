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
}

export interface SignIn { amr: string[], authTime: number }

export interface TokenUser { id: string, username: string, roles: string[], tokenVersion: number }

interface Verified { claims: AccessClaims, kid: string, exp: number }

const VERIFIED_CACHE_SIZE = 10_000
// RFC 6750 b64token, bounded: no header parsing work for absurd inputs.
const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]{1,4096}=*) *$/i
const HEADER_MAX = 512

function isClaims (p: any): p is AccessClaims {
  return p !== null && typeof p === 'object' &&
    typeof p.sub === 'string' && typeof p.sid === 'string' && typeof p.jti === 'string' &&
    typeof p.iat === 'number' && typeof p.exp === 'number' && typeof p.preferred_username === 'string' &&
    Array.isArray(p.roles) && p.roles.every((r: unknown) => typeof r === 'string') &&
    (p.ver === undefined || Number.isSafeInteger(p.ver)) &&
    (p.amr === undefined || (Array.isArray(p.amr) && p.amr.every((r: unknown) => typeof r === 'string'))) &&
    (p.auth_time === undefined || Number.isSafeInteger(p.auth_time))
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
  function issue (user: TokenUser, sid: string, signIn: SignIn): { token: string, expiresIn: number } {
    const token = keyring.signer().sign({ sub: user.id, sid, jti: randomUUID(), roles: user.roles, preferred_username: user.username, ver: user.tokenVersion, amr: signIn.amr, auth_time: signIn.authTime })
    return { token, expiresIn: ttl }
  }

  const verified = new VerifiedTokens<Verified>(VERIFIED_CACHE_SIZE)

  /** Verifies signature and claims, or throws the API's 401 errors. Does not consult revocations. */
  function check (header: string | undefined): Verified {
    if (header === undefined || header === '') throw new TokenMissingError()
    // The common case: "Bearer <a token verified before>".
    if (header.startsWith('Bearer ')) {
      const hit = verified.get(header.slice(7), Date.now())
      if (hit !== undefined) return hit
    }
    const m = BEARER.exec(header)
    if (m === null) throw new TokenInvalidError()
    const kid = kidOf(m[1])
    const verify = kid === undefined ? undefined : keyring.verifier(kid)
    if (verify === undefined) throw new TokenInvalidError()
    let claims: unknown
    try {
      claims = verify(m[1])
    } catch (err) {
      if ((err as { code?: string }).code === 'FAST_JWT_EXPIRED') throw new TokenExpiredError()
      throw new TokenInvalidError()
    }
    if (!isClaims(claims)) throw new TokenInvalidError()
    const entry = { claims, kid: kid!, exp: claims.exp }
    verified.set(m[1], entry)
    return entry
  }

  app.decorate('tokens', { issue, verify: (header: string | undefined) => check(header).claims, ttl })
  app.decorateRequest('auth', null)

  app.decorate('authenticate', function authenticate (request: FastifyRequest, _reply: FastifyReply, done: (err?: Error) => void) {
    try {
      const { claims, kid } = check(request.headers.authorization)
      // A key revoked in an emergency: its tokens are not ours anymore.
      if (app.revocations.isKeyRevoked(kid)) throw new TokenInvalidError()
      if (app.revocations.isRevoked(claims)) throw new TokenRevokedError()
      request.auth = claims
      done()
    } catch (err) {
      done(err as Error)
    }
  })

  app.decorate('requireRole', function requireRole (role: string) {
    return function roleGuard (request: FastifyRequest, _reply: FastifyReply, done: (err?: Error) => void) {
      done(request.auth?.roles.includes(role) === true ? undefined : new ForbiddenError())
    }
  })
}, { name: 'tokens', dependencies: ['revocation-list', 'signing-keys'] })

type Hook = (request: FastifyRequest, reply: FastifyReply, done: (err?: Error) => void) => void

declare module 'fastify' {
  interface FastifyInstance {
    tokens: {
      issue: (user: TokenUser, sid: string, signIn: SignIn) => { token: string, expiresIn: number }
      verify: (header: string | undefined) => AccessClaims
      ttl: number
    }
    authenticate: Hook
    requireRole: (role: string) => Hook
  }
  interface FastifyRequest {
    auth: AccessClaims | null
  }
}
