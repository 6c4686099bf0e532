// How a login or refresh answers, per client mode: cookie mode puts the
// refresh token in an httpOnly cookie (never in a body) with a CSRF cookie
// beside it, and the CSRF value in the body too (a SPA on another site cannot
// read the service's cookies); header mode returns the refresh token in the
// body and sets no cookie at all. A session bound to a DPoP key answers with
// token_type DPoP and access tokens that carry the key (`cnf.jkt`).
import cookie from '@fastify/cookie'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Config } from '../../config.ts'
import type { Rotation } from '../../sessions/sessions.ts'
import { ValidationError } from '../../errors.ts'

export type AuthMode = 'cookie' | 'header'

/**
 * Routes that read or set the refresh and CSRF cookies, in a scope of their
 * own with the cookie plugin: only they parse the Cookie header and carry the
 * plugin's onSend hook; the routes a Bearer token alone opens (/auth/me and
 * the rest) do neither.
 */
export async function withCookies (app: FastifyInstance, routes: (scope: FastifyInstance) => unknown): Promise<void> {
  await app.register(async function cookieRoutes (scope) {
    await scope.register(cookie)
    await routes(scope)
  })
}

export const CSRF_COOKIE = 'csrf_token'

export function authMode (request: FastifyRequest): AuthMode {
  const raw = request.headers['x-auth-mode']
  if (raw === undefined || raw === 'cookie') return 'cookie'
  if (raw === 'header') return 'header'
  throw new ValidationError('X-Auth-Mode must be "cookie" or "header"')
}

export function cookieOptions (config: Config) {
  // Cross-site (SameSite=None): partitioned (CHIPS), the only third-party
  // cookies that browsers blocking third-party cookies still keep.
  const base = { secure: config.cookieSecure, sameSite: config.cookieSameSite, ...(config.cookieSameSite === 'none' ? { partitioned: true } : {}) }
  return {
    refresh: { ...base, httpOnly: true, path: '/auth' },
    // Readable by page scripts on purpose: the SPA echoes it in X-CSRF-Token.
    csrf: { ...base, httpOnly: false, path: '/' }
  }
}

export function sendTokens (app: FastifyInstance, config: Config, request: FastifyRequest, reply: FastifyReply, rotation: Rotation) {
  const mode = authMode(request)
  const access = app.tokens.issue(rotation.user, rotation.sessionId, rotation, rotation.dpopJkt)
  reply.header('cache-control', 'no-store').header('pragma', 'no-cache')
  const body: Record<string, unknown> = {
    access_token: access.token,
    token_type: rotation.dpopJkt === null ? 'Bearer' : 'DPoP',
    expires_in: access.expiresIn,
    user: { id: rotation.user.id, username: rotation.user.username, roles: rotation.user.roles }
  }
  if (mode === 'header') {
    body.refresh_token = rotation.refreshToken
    body.refresh_expires_in = rotation.refreshExpiresIn
  } else {
    const opts = cookieOptions(config)
    const csrf = app.csrf.csrfFor(rotation.sessionId)
    reply.setCookie(config.refreshCookieName, rotation.refreshToken, { ...opts.refresh, maxAge: rotation.refreshExpiresIn })
    reply.setCookie(CSRF_COOKIE, csrf, { ...opts.csrf, maxAge: rotation.refreshExpiresIn })
    body.csrf_token = csrf
  }
  return body
}

export function clearCookies (config: Config, reply: FastifyReply): void {
  const opts = cookieOptions(config)
  reply.setCookie(config.refreshCookieName, '', { ...opts.refresh, maxAge: 0 })
  reply.setCookie(CSRF_COOKIE, '', { ...opts.csrf, maxAge: 0 })
}
