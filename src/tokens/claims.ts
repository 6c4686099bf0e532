// What an access token says (RFC 9068 profile, plus how and when its session
// signed in and the key it is bound to), and the checks made on its shape
// before and after @fastify/jwt verifies it.
export interface AccessClaims {
  sub: string
  sid: string
  jti: string
  iat: number
  exp: number
  roles: string[]
  preferred_username: string
  /** The user's token version when it was issued (revocation/user-revocation.ts); absent from older tokens. */
  ver?: number
  /** How the session signed in (RFC 8176: pwd, otp, hwk, swk, user) and when (seconds); absent from older tokens. */
  amr?: string[]
  auth_time?: number
  /** The DPoP key the session is bound to (RFC 9449 section 6): only a proof by it makes the token usable. */
  cnf?: { jkt: string }
  /** The account's address as it was when the token was issued (a refresh brings a change): /auth/me reads no database. */
  email?: string
  email_verified?: boolean
}

/** How the session signed in, and (epoch seconds) when it ends for good: no access token outlives its session. */
export interface SignIn { amr: string[], authTime: number, endsAt?: number }

export interface TokenUser { id: string, username: string, roles: string[], tokenVersion: number, email?: string | null, emailVerified?: boolean }

/** How far apart two clocks may be (instances of this service, services that verify its tokens). */
export const CLOCK_SKEW_MS = 60_000

export const ACCESS_TOKEN_TYP = 'at+jwt'
// RFC 6750 b64token, bounded: no header parsing work for absurd inputs. The
// scheme is Bearer, or DPoP for a token bound to a key (RFC 9449 section 7.1).
export const AUTHORIZATION = /^(Bearer|DPoP) +([A-Za-z0-9\-._~+/]{1,4096}=*) *$/i
const HEADER_MAX = 512

export function isClaims (p: any): p is AccessClaims {
  return p !== null && typeof p === 'object' &&
    typeof p.sub === 'string' && typeof p.sid === 'string' && typeof p.jti === 'string' &&
    typeof p.iat === 'number' && typeof p.exp === 'number' && typeof p.preferred_username === 'string' &&
    Array.isArray(p.roles) && p.roles.every((r: unknown) => typeof r === 'string') &&
    (p.ver === undefined || Number.isSafeInteger(p.ver)) &&
    (p.amr === undefined || (Array.isArray(p.amr) && p.amr.every((r: unknown) => typeof r === 'string'))) &&
    (p.auth_time === undefined || Number.isSafeInteger(p.auth_time)) &&
    (p.cnf === undefined || (p.cnf !== null && typeof p.cnf === 'object' && typeof p.cnf.jkt === 'string')) &&
    (p.email === undefined || typeof p.email === 'string') && (p.email_verified === undefined || typeof p.email_verified === 'boolean')
}

/** The `kid` of a compact JWS, read before any verification only to pick the key. */
export function kidOf (token: string): string | undefined {
  const dot = token.indexOf('.')
  if (dot <= 0 || dot > HEADER_MAX) return undefined
  try {
    const header = JSON.parse(Buffer.from(token.slice(0, dot), 'base64url').toString())
    return typeof header?.kid === 'string' ? header.kid : undefined
  } catch {
    return undefined
  }
}
