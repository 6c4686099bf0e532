// Access tokens: signed and verified by @fastify/jwt (fast-jwt), with the
// algorithm, issuer, audience and `typ` pinned. A verified token is cached
// (keyed by the token, never past its `exp`, see services/verified-tokens.ts),
// so the signature is not checked again on every request; the revocation
// check always is.
import fp from 'fastify-plugin'
import fastifyJwt from '@fastify/jwt'
import { randomUUID } from 'node:crypto'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { ForbiddenError, TokenExpiredError, TokenInvalidError, TokenMissingError, TokenRevokedError } from '../errors.ts'
import type { SigningKey } from '../services/keys.ts'
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
}

export interface TokenUser { id: string, username: string, roles: string[], tokenVersion: number }

const AT_TYP = 'at+jwt'
const VERIFIED_CACHE_SIZE = 10_000
// RFC 6750 b64token, bounded: no header parsing work for absurd inputs.
const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]{1,4096}=*) *$/i

function isClaims (p: any): p is AccessClaims {
  return p !== null && typeof p === 'object' &&
    typeof p.sub === 'string' && typeof p.sid === 'string' && typeof p.jti === 'string' &&
    typeof p.iat === 'number' && typeof p.exp === 'number' && typeof p.preferred_username === 'string' &&
    Array.isArray(p.roles) && p.roles.every((r: unknown) => typeof r === 'string') &&
    (p.ver === undefined || Number.isSafeInteger(p.ver))
}

export default fp(async function tokensPlugin (app, opts: { key: SigningKey, issuer: string, audience: string, ttl: number }) {
  const { key, issuer, audience, ttl } = opts
  await app.register(fastifyJwt, {
    secret: key.secret,
    sign: { algorithm: key.algorithm, kid: key.kid, iss: issuer, aud: audience, expiresIn: ttl, header: { typ: AT_TYP } } as any,
    verify: {
      algorithms: [key.algorithm],
      allowedIss: issuer,
      allowedAud: audience,
      checkTyp: AT_TYP,
      requiredClaims: ['sub', 'sid', 'jti', 'iat', 'exp', 'iss', 'aud']
    } as any
  })

  /** `user` as read in the same statement as its version: the token carries one consistent state. */
  function issue (user: TokenUser, sid: string): { token: string, expiresIn: number } {
    const token = app.jwt.sign({ sub: user.id, sid, jti: randomUUID(), roles: user.roles, preferred_username: user.username, ver: user.tokenVersion })
    return { token, expiresIn: ttl }
  }

  const verified = new VerifiedTokens<AccessClaims>(VERIFIED_CACHE_SIZE)

  /** Verifies signature and claims, or throws the API's 401 errors. Does not consult revocations. */
  function verify (header: string | undefined): AccessClaims {
    if (header === undefined || header === '') throw new TokenMissingError()
    // The common case: "Bearer <a token verified before>".
    if (header.startsWith('Bearer ')) {
      const hit = verified.get(header.slice(7), Date.now())
      if (hit !== undefined) return hit
    }
    const m = BEARER.exec(header)
    if (m === null) throw new TokenInvalidError()
    let claims: unknown
    try {
      claims = app.jwt.verify(m[1])
    } catch (err) {
      if ((err as { code?: string }).code === 'FAST_JWT_EXPIRED') throw new TokenExpiredError()
      throw new TokenInvalidError()
    }
    if (!isClaims(claims)) throw new TokenInvalidError()
    verified.set(m[1], claims)
    return claims
  }

  app.decorate('tokens', { issue, verify, ttl })
  app.decorateRequest('auth', null)

  app.decorate('authenticate', function authenticate (request: FastifyRequest, _reply: FastifyReply, done: (err?: Error) => void) {
    try {
      const claims = verify(request.headers.authorization)
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
}, { name: 'tokens', dependencies: ['revocation-list'] })

type Hook = (request: FastifyRequest, reply: FastifyReply, done: (err?: Error) => void) => void

declare module 'fastify' {
  interface FastifyInstance {
    tokens: {
      issue: (user: TokenUser, sid: string) => { token: string, expiresIn: number }
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
