// How a login or refresh answers, per client mode: cookie mode puts the
// refresh token in an httpOnly cookie (never in a body) with a CSRF cookie
// beside it; header mode returns it in the body and sets no cookie at all.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Config } from '../../config.ts'
import type { Rotation } from '../../services/sessions.ts'
import { ValidationError } from '../../errors.ts'

export type AuthMode = 'cookie' | 'header'
export const CSRF_COOKIE = 'csrf_token'

export function authMode (request: FastifyRequest): AuthMode {
  const raw = request.headers['x-auth-mode']
  if (raw === undefined || raw === 'cookie') return 'cookie'
  if (raw === 'header') return 'header'
  throw new ValidationError('X-Auth-Mode must be "cookie" or "header"')
}

export function cookieOptions (config: Config) {
  const base = { secure: config.cookieSecure, sameSite: config.cookieSameSite }
  return {
    refresh: { ...base, httpOnly: true, path: '/auth' },
    // Readable by page scripts on purpose: the SPA echoes it in X-CSRF-Token.
    csrf: { ...base, httpOnly: false, path: '/' }
  }
}

export function sendTokens (app: FastifyInstance, config: Config, request: FastifyRequest, reply: FastifyReply, rotation: Rotation) {
  const mode = authMode(request)
  const access = app.tokens.issue(rotation.user, rotation.sessionId, rotation)
  reply.header('cache-control', 'no-store').header('pragma', 'no-cache')
  const body: Record<string, unknown> = {
    access_token: access.token,
    token_type: 'Bearer',
    expires_in: access.expiresIn,
    user: { id: rotation.user.id, username: rotation.user.username, roles: rotation.user.roles }
  }
  if (mode === 'header') {
    body.refresh_token = rotation.refreshToken
    body.refresh_expires_in = rotation.refreshExpiresIn
  } else {
    const opts = cookieOptions(config)
    reply.setCookie(config.refreshCookieName, rotation.refreshToken, { ...opts.refresh, maxAge: rotation.refreshExpiresIn })
    reply.setCookie(CSRF_COOKIE, app.csrf.csrfFor(rotation.sessionId), { ...opts.csrf, maxAge: rotation.refreshExpiresIn })
  }
  return body
}

export function clearCookies (config: Config, reply: FastifyReply): void {
  const opts = cookieOptions(config)
  reply.setCookie(config.refreshCookieName, '', { ...opts.refresh, maxAge: 0 })
  reply.setCookie(CSRF_COOKIE, '', { ...opts.csrf, maxAge: 0 })
}
