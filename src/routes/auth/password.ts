// POST /auth/password (change) and POST /auth/password/reset (an operator-issued token).
import type { FastifyInstance } from 'fastify'
import { NewPasswordSchema, errors } from './schemas.ts'

export default async function passwordRoutes (app: FastifyInstance) {
  app.post<{ Body: { current_password?: string, new_password: string } }>('/password', {
    onRequest: app.authenticate,
    schema: {
      summary: 'Change the password; every other session ends at once, this one stays',
      description: 'Errors: 400 VALIDATION / PASSWORD_TOO_COMMON / PASSWORD_UNCHANGED, 401 INVALID_CREDENTIALS (wrong current password, counted as a failed login), 401 MFA_REQUIRED (the user has a second factor, TOTP or a passkey, and this session used neither: reauthenticate with it), 429. The current password is a fresh proof: no REAUTH_REQUIRED here. An account with no password yet (made by a sign-in with a provider) sends new_password alone and needs the full step-up (401 REAUTH_REQUIRED past REAUTH_MAX_AGE).',
      tags: ['passwords'],
      security: [{ bearer: [] }],
      body: {
        type: 'object',
        properties: { current_password: NewPasswordSchema, new_password: NewPasswordSchema },
        required: ['new_password'],
        additionalProperties: false
      },
      response: { 204: { type: 'null' }, ...errors(400, 401, 429, 503) }
    }
  }, async function changePassword (request, reply) {
    const { sub, sid, amr, auth_time: authTime, preferred_username: username } = request.auth!
    const attempt = await app.loginThrottle.begin(username, request, reply)
    let ended
    try {
      ended = await app.passwordLife.change(sub, sid, { amr: amr ?? [], auth_time: authTime }, request.body.current_password, request.body.new_password)
    } catch (err) {
      if ((err as { code?: string }).code === 'INVALID_CREDENTIALS') {
        app.security.info({ event: 'password_change_failed', userId: sub, ip: request.ip }, 'password change: wrong current password')
      } else {
        await attempt.uncount()
      }
      throw err
    }
    await attempt.uncount()
    app.security.info({ event: 'password_changed', userId: sub, sessionId: sid, endedSessions: ended.length, ip: request.ip }, 'password changed; other sessions ended')
    reply.code(204).send()
  })

  app.post<{ Body: { reset_token: string, new_password: string } }>('/password/reset', {
    preHandler: app.limits.reset,
    schema: {
      summary: 'Set a new password with a one-time reset token an admin issued; every session ends',
      description: 'Errors: 400 INVALID_RESET_TOKEN (unknown, spent or expired: one code for all), 400 VALIDATION / PASSWORD_TOO_COMMON, 429.',
      tags: ['passwords'],
      body: {
        type: 'object',
        properties: { reset_token: { type: 'string', maxLength: 128 }, new_password: NewPasswordSchema },
        required: ['reset_token', 'new_password'],
        additionalProperties: false
      },
      response: { 204: { type: 'null' }, ...errors(400, 429, 503) }
    }
  }, async function resetPassword (request, reply) {
    const userId = await app.passwordLife.useReset(request.body.reset_token, request.body.new_password)
    app.security.info({ event: 'password_reset', userId, ip: request.ip }, 'password set with a reset token; every session ended')
    reply.code(204).send()
  })
}
