// TOTP enrolment and removal, and the second step of a password login.
import type { FastifyInstance } from 'fastify'
import type { Config } from '../../config.ts'
import { MfaCodeInvalidError, MfaTokenInvalidError, unauthorized } from '../../errors.ts'
import { AuthModeHeaders, CodeSchema, TokenResponseSchema, docs, errors } from './schemas.ts'
import { authMode, sendTokens, withCookies } from './token-response.ts'
import { RECOVERY_CODES } from '../../mfa/totp.ts'

const CodeBody = {
  type: 'object',
  properties: { code: CodeSchema },
  required: ['code'],
  additionalProperties: false
} as const

export default async function secondFactorRoutes (app: FastifyInstance, opts: { config: Config }) {
  const guarded = { tags: ['second factors'], security: [{ bearer: [] }] }

  /** A code for the account's factor, under the per-account limit on wrong codes. */
  async function useCode (userId: string, code: string, reply: import('fastify').FastifyReply, wrong: () => Error) {
    const attempt = await app.mfaThrottle.begin(userId, reply)
    let used
    try {
      used = await app.totp.use(userId, code)
    } catch (err) {
      await attempt.uncount()
      throw err
    }
    if (used === false) throw wrong() // stays counted
    await attempt.uncount()
    return used
  }

  app.get('/mfa', {
    onRequest: app.authenticate,
    schema: {
      ...guarded,
      summary: 'The second factors of the current user',
      response: {
        200: { type: 'object', properties: { totp: { type: 'boolean' }, recovery_codes_left: { type: 'integer' }, passkeys: { type: 'integer' } }, required: ['totp', 'recovery_codes_left', 'passkeys'] },
        ...errors(401, 503)
      }
    }
  }, async function mfaStatus (request, reply) {
    const userId = request.auth!.sub
    const [totp, left, passkeys] = await Promise.all([app.totp.enabled(userId), app.totp.recoveryCodesLeft(userId), app.passkeys.count(userId)])
    reply.header('cache-control', 'no-store')
    return { totp, recovery_codes_left: left, passkeys }
  })

  app.post('/mfa/totp', {
    onRequest: app.authenticate,
    preHandler: app.requireStepUp,
    schema: {
      ...guarded,
      summary: 'Start TOTP enrolment: a new secret, pending until confirmed',
      description: `RFC 6238, SHA-1, 6 digits, 30 s. ${docs.stepUp} Errors: 409 MFA_ALREADY_ENABLED.`,
      response: { 200: { type: 'object', properties: { secret: { type: 'string' }, otpauth_uri: { type: 'string' } }, required: ['secret', 'otpauth_uri'] }, ...errors(401, 409, 503) }
    }
  }, async function enrollTotp (request, reply) {
    const out = await app.totp.enroll(request.auth!.sub, request.auth!.preferred_username)
    reply.header('cache-control', 'no-store').header('pragma', 'no-cache')
    return { secret: out.secret, otpauth_uri: out.otpauthUri }
  })

  app.post<{ Body: { code: string } }>('/mfa/totp/confirm', {
    onRequest: app.authenticate,
    preHandler: app.requireStepUp,
    schema: {
      ...guarded,
      summary: `Confirm TOTP with a code; returns ${RECOVERY_CODES} one-time recovery codes (shown once)`,
      description: `From now on a password login needs a second step. ${docs.stepUp} Errors: 400 MFA_CODE_INVALID, 409 MFA_ALREADY_ENABLED, 429 after 5 wrong codes in 15 min.`,
      body: CodeBody,
      response: { 200: { type: 'object', properties: { recovery_codes: { type: 'array', items: { type: 'string' } } }, required: ['recovery_codes'] }, ...errors(400, 401, 409, 429, 503) }
    }
  }, async function confirmTotp (request, reply) {
    const userId = request.auth!.sub
    const attempt = await app.mfaThrottle.begin(userId, reply)
    let codes
    try {
      codes = await app.totp.confirm(userId, request.body.code)
    } catch (err) {
      if ((err as { code?: string }).code !== 'MFA_CODE_INVALID') await attempt.uncount()
      throw err
    }
    await attempt.uncount()
    app.security.info({ event: 'totp_enabled', userId, ip: request.ip }, 'TOTP enabled')
    reply.header('cache-control', 'no-store').header('pragma', 'no-cache')
    return { recovery_codes: codes }
  })

  app.delete<{ Body: { code: string } }>('/mfa/totp', {
    onRequest: app.authenticate,
    preHandler: app.requireStepUp,
    schema: {
      ...guarded,
      summary: 'Remove TOTP, proven with a current code or a recovery code',
      description: `${docs.stepUp} Errors: 400 MFA_CODE_INVALID, 429 after 5 wrong codes in 15 min.`,
      body: CodeBody,
      response: { 204: { type: 'null' }, ...errors(400, 401, 429, 503) }
    }
  }, async function removeTotp (request, reply) {
    const userId = request.auth!.sub
    await useCode(userId, request.body.code, reply, () => new MfaCodeInvalidError())
    await app.totp.remove(userId)
    app.security.info({ event: 'totp_disabled', userId, ip: request.ip }, 'TOTP removed')
    reply.code(204).send()
  })

  await withCookies(app, (app) => app.post<{ Body: { mfa_token: string, code: string } }>('/login/mfa', {
    preHandler: app.limits.login,
    schema: {
      summary: 'Second step of a password login (or a sign-in with a provider): a TOTP code or a recovery code',
      description: `Answers exactly as a login. ${docs.cookies} Errors: 401 MFA_CODE_INVALID, 401 MFA_TOKEN_INVALID (unknown, spent or expired: 300 s), 429 after 5 wrong codes for one account in 15 min.`,
      tags: ['auth'],
      headers: AuthModeHeaders,
      body: {
        type: 'object',
        properties: { mfa_token: { type: 'string', maxLength: 128 }, code: CodeSchema },
        required: ['mfa_token', 'code'],
        additionalProperties: false
      },
      response: { 200: TokenResponseSchema, ...errors(400, 401, 429, 503) }
    }
  }, async function loginMfa (request, reply) {
    authMode(request)
    // A proof, if sent, is checked before any other work; its key binds the session opened here.
    const dpopJkt = await app.dpop.forTokenEndpoint(request, reply)
    const taken = await app.mfaTokens.take(request.body.mfa_token)
    let used
    try {
      used = await useCode(taken.userId, request.body.code, reply, () => unauthorized(new MfaCodeInvalidError()))
    } catch (err) {
      await app.mfaTokens.giveBack(taken)
      if ((err as { code?: string }).code === 'MFA_CODE_INVALID') {
        app.metrics.login('failed', 'mfa')
        app.security.info({ event: 'login_mfa_failed', userId: taken.userId, ip: request.ip }, 'wrong second-factor code')
      }
      throw err
    }
    // The password step still stands: same password, account enabled.
    const user = await app.accounts.reread({ id: taken.userId, passwordVersion: taken.passwordVersion })
    if (user === undefined) throw new MfaTokenInvalidError()
    app.metrics.login('ok', 'mfa')
    const first = taken.first
    const rotation = await app.sessions.open(user, { userAgent: request.headers['user-agent'], ip: request.ip, dpopJkt, federation: first.federation }, [...first.amr, 'otp'])
    app.security.info({ event: 'login', userId: user.id, sessionId: rotation.sessionId, ip: request.ip, factor: used }, 'login with a second factor')
    return sendTokens(app, opts.config, request, reply, rotation)
  }))
}
