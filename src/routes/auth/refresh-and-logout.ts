// POST /auth/refresh, /auth/logout and /auth/logout-all.
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { Config } from '../../config.ts'
import { CsrfInvalidError, InvalidRefreshTokenError, ValidationError } from '../../errors.ts'
import { AuthModeHeaders, RefreshBodySchema, TokenResponseSchema, docs, errors } from './schemas.ts'
import { authMode, clearCookies, sendTokens, CSRF_COOKIE } from './token-response.ts'
import { sameString } from '../../sessions/csrf.ts'

interface RefreshBody { refresh_token?: string }

/** Swallows a refused credential (it ends nothing), except a stale DPoP nonce: the client retries with the new one. */
function unlessNonce (err: unknown): undefined {
  if ((err as { code?: string }).code === 'USE_DPOP_NONCE') throw err
  return undefined
}

/** Double submit: the header must equal the cookie (a cross-site page can read neither). */
function submittedCsrf (request: FastifyRequest): string {
  const header = request.headers['x-csrf-token']
  const cookie = request.cookies[CSRF_COOKIE]
  if (typeof header !== 'string' || header === '' || cookie === undefined || !sameString(header, cookie)) throw new CsrfInvalidError()
  return header
}

export default async function refreshAndLogoutRoutes (app: FastifyInstance, opts: { config: Config }) {
  const { config } = opts
  const csrfHeader = {
    'x-csrf-token': { type: 'string', description: 'cookie mode: the value of the csrf_token cookie (or of csrf_token in the last login or refresh body)' },
    dpop: { type: 'string', description: 'a DPoP proof (RFC 9449): binds a new session to its key; required for every refresh of a bound session' }
  }
  const headers = { ...AuthModeHeaders, properties: { ...AuthModeHeaders.properties, ...csrfHeader } }

  app.post<{ Body: RefreshBody | null }>('/refresh', {
    preHandler: app.limits.refresh,
    schema: {
      summary: 'Rotate the refresh token and get a new access token',
      description: `${docs.csrf} ${docs.cookies} ${docs.dpop} Errors: 401 INVALID_REFRESH_TOKEN, 401 REFRESH_TOKEN_REUSED (the session is revoked), 401 DPOP_PROOF_INVALID (a bound session without a proof by its key: nothing changes), 400 USE_DPOP_NONCE, 403 CSRF_INVALID, 429, 503.`,
      tags: ['auth'],
      headers,
      body: RefreshBodySchema,
      response: { 200: TokenResponseSchema, ...errors(400, 401, 403, 429, 503) }
    }
  }, async function refresh (request, reply) {
    const dpopJkt = await app.dpop.forTokenEndpoint(request, reply, { opening: false })
    let raw: string | undefined
    let csrf: string | undefined
    if (authMode(request) === 'header') {
      raw = request.body?.refresh_token
      if (raw === undefined) throw new ValidationError('body must have refresh_token in header mode')
    } else {
      raw = request.cookies[config.refreshCookieName]
      if (raw === undefined || raw === '') throw new InvalidRefreshTokenError()
      csrf = submittedCsrf(request)
    }
    // Cookie mode: the CSRF token is bound to the session, so one from another session does not pass.
    const bound = csrf
    let rotation
    try {
      rotation = await app.rotation.rotate(raw, bound === undefined
        ? undefined
        : (sessionId) => { if (!app.csrf.csrfMatches(sessionId, bound)) throw new CsrfInvalidError() }, dpopJkt ?? null)
    } catch (err) {
      const code = (err as { code?: string }).code
      if (code === 'REFRESH_TOKEN_REUSED') app.metrics.refresh('reuse_detected')
      else if (code === 'INVALID_REFRESH_TOKEN' || code === 'CSRF_INVALID' || code === 'DPOP_PROOF_INVALID') app.metrics.refresh('refused')
      throw err
    }
    app.metrics.refresh(rotation.grace === true ? 'grace' : 'ok')
    return sendTokens(app, config, request, reply, rotation)
  })

  app.post<{ Body: RefreshBody | null }>('/logout', {
    schema: {
      summary: 'End this session: its refresh token and every access token of it stop working',
      description: `Takes the access token and/or the refresh credential. ${docs.csrf} Cookie mode clears both cookies (Max-Age=0). Always 204: never says whether a token existed. A session bound to a DPoP key ends only with a proof by that key; a proof without the current nonce (DPOP_NONCE=on) is answered 400 USE_DPOP_NONCE (at the token endpoint rules) or 401 USE_DPOP_NONCE (a bound access token), and the client retries with the nonce it was given.`,
      tags: ['auth'],
      headers,
      body: RefreshBodySchema,
      response: { 204: { type: 'null' }, ...errors(400, 403, 503) }
    }
  }, async function logout (request, reply) {
    const mode = authMode(request)
    let sessionId: string | undefined
    const raw = mode === 'header' ? request.body?.refresh_token : request.cookies[config.refreshCookieName]
    if (raw !== undefined && raw !== '') {
      const csrf = mode === 'cookie' ? submittedCsrf(request) : undefined
      // The proof is checked before the session is looked up, so its answer never
      // depends on whether the token exists. A proof that lacks the current nonce
      // gets 400 USE_DPOP_NONCE (the client retries with it): a logout must never
      // look done when it was not. Any other bad proof counts as no proof.
      const proofJkt = await app.dpop.forTokenEndpoint(request, reply, { opening: false }).catch(unlessNonce)
      const session = await app.sessions.sessionOf(raw)
      if (session !== undefined && csrf !== undefined && !app.csrf.csrfMatches(session.id, csrf)) throw new CsrfInvalidError()
      // A session bound to a DPoP key ends only with a proof by that key. Without
      // one, nothing ends and the answer is the 204 of an unknown token: logout
      // never tells whether a token exists.
      if (session !== undefined && (session.dpopJkt === null || proofJkt === session.dpopJkt)) sessionId = session.id
    }
    if (sessionId === undefined && request.headers.authorization !== undefined) {
      // A bearer token is not ambient (no CSRF risk); a bound one needs its proof. An invalid one just ends nothing.
      try { sessionId = (await app.tokens.verifyRequest(request, reply)).sid } catch (err) { unlessNonce(err) }
    }
    if (sessionId !== undefined) {
      await app.sessions.endSession(sessionId, 'logout')
      app.security.info({ event: 'logout', sessionId, ip: request.ip }, 'logout')
    }
    if (mode === 'cookie') clearCookies(config, reply)
    // 204 whatever was presented: never says whether a token existed.
    reply.code(204).send()
  })

  app.post('/logout-all', {
    onRequest: app.authenticate,
    schema: {
      summary: 'End every session and every access token of the user',
      description: docs.bearer,
      tags: ['auth'],
      security: [{ bearer: [] }],
      response: { 204: { type: 'null' }, ...errors(401, 503) }
    }
  }, async function logoutAll (request, reply) {
    const userId = request.auth!.sub
    await app.userRevocation.revokeAll(userId, { endSessions: true, reason: 'logout-all' })
    app.security.info({ event: 'logout_all', userId, ip: request.ip }, 'logout from every session')
    if (request.headers['x-auth-mode'] !== 'header') clearCookies(config, reply)
    reply.code(204).send()
  })
}
