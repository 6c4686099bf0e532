// The email routes: a change of address and its verification,
// forgot-password, and sign-in with a mailed code. Every answer that could
// tell whether an address or account exists is the same fixed 202.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Config } from '../../config.ts'
import { EmailSchema, addressKey } from '../../email/address.ts'
import { ValidationError } from '../../errors.ts'
import { AuthModeHeaders, MfaRequiredSchema, TokenResponseSchema, docs, errors } from './schemas.ts'
import { authMode, sendTokens } from './token-response.ts'

const ACCEPTED = { message: 'Accepted: if the address can receive mail, a message is on its way' }
const AcceptedSchema = { type: 'object', properties: { message: { type: 'string' } }, required: ['message'] } as const
const EmailBody = { type: 'object', properties: { email: EmailSchema }, required: ['email'], additionalProperties: false } as const
const TOKEN = { type: 'string', minLength: 1, maxLength: 128 } as const

function accepted (reply: FastifyReply) {
  reply.code(202).header('cache-control', 'no-store')
  return ACCEPTED
}

/** PUT /auth/email, POST /auth/email/verify, POST /auth/password/forgot, POST /auth/email/login-code. */
export default async function emailRoutes (app: FastifyInstance) {
  const requireMail = async () => { await app.mail.requireMail() }

  app.put<{ Body: { email: string } }>('/email', {
    onRequest: app.authenticate,
    preHandler: [app.requireStepUp, app.limits.email, requireMail],
    schema: {
      summary: 'Change the email address: a verification link goes to the new one; it replaces the old one (which is told) when opened',
      description: `${docs.stepUp} Errors: 400 VALIDATION (not a plain address), 401 MFA_REQUIRED / REAUTH_REQUIRED, 429, 503 EMAIL_UNAVAILABLE. The answer is the same whether or not another account uses the address.`,
      tags: ['email'],
      security: [{ bearer: [] }],
      body: EmailBody,
      response: { 202: AcceptedSchema, ...errors(400, 401, 429, 503) }
    }
  }, async function changeEmail (request, reply) {
    const outcome = await app.email.flows.requestChange(request.auth!.sub, request.body.email)
    // The user's own activity: their new address is theirs to see in the log.
    app.security.info({ event: 'email_change_requested', userId: request.auth!.sub, email: request.body.email, outcome, ip: request.ip }, 'email change requested')
    return accepted(reply)
  })

  app.post<{ Body: { token: string } }>('/email/verify', {
    preHandler: app.limits.reset,
    schema: {
      summary: 'Open a verification link (#verify=<token>): the address becomes the account\'s verified one',
      description: 'Errors: 400 INVALID_EMAIL_TOKEN (unknown, spent or expired: one code), 409 EMAIL_TAKEN (another account verified the address meanwhile), 429.',
      tags: ['email'],
      body: { type: 'object', properties: { token: TOKEN }, required: ['token'], additionalProperties: false },
      response: { 204: { type: 'null' }, ...errors(400, 409, 429, 503) }
    }
  }, async function verifyEmail (request, reply) {
    const done = await app.email.flows.verify(request.body.token)
    app.security.info({ event: 'email_verified', userId: done.userId, email: done.email, replacedAddress: done.previous !== null, ip: request.ip }, 'email address verified')
    reply.code(204).send()
  })

  app.post<{ Body: { email: string } | { username: string } }>('/password/forgot', {
    preHandler: [app.limits.email, requireMail],
    schema: {
      summary: 'Forgot password: a verified address gets a link holding a one-time reset token (POST /auth/password/reset spends it)',
      description: 'Always 202 with the same body, and the same work, whether or not the address or account exists. Errors: 400 VALIDATION, 429, 503 EMAIL_UNAVAILABLE.',
      tags: ['passwords'],
      // One of the two, never both (oneOf would not do: the validator strips unknown properties before it compares branches).
      body: {
        type: 'object',
        properties: { email: EmailSchema, username: { type: 'string', minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9._-]+$' } },
        minProperties: 1,
        maxProperties: 1,
        additionalProperties: false
      },
      response: { 202: AcceptedSchema, ...errors(400, 429, 503) }
    }
  }, async function forgotPassword (request, reply) {
    const body = request.body as { email?: string, username?: string }
    if ((body.email === undefined) === (body.username === undefined)) throw new ValidationError('send email or username')
    await app.email.flows.forgot(request.body)
    app.security.info({ event: 'password_reset_requested', by: 'email' in request.body ? 'email' : 'username', ip: request.ip }, 'password reset requested')
    return accepted(reply)
  })

  app.post<{ Body: { email: string } }>('/email/login-code', {
    preHandler: [app.limits.email, requireMail],
    schema: {
      summary: 'Mail a 6-digit sign-in code (600 s, one use) to a verified address',
      description: 'Always 202 with the same body whether or not the address is known. Errors: 400 VALIDATION, 429, 503 EMAIL_UNAVAILABLE.',
      tags: ['email'],
      body: EmailBody,
      response: { 202: AcceptedSchema, ...errors(400, 429, 503) }
    }
  }, async function requestLoginCode (request, reply) {
    await app.email.loginCodes.request(request.body.email)
    app.security.info({ event: 'login_code_requested', ip: request.ip }, 'sign-in code requested')
    return accepted(reply)
  })
}

/** POST /auth/login/email: in the cookie scope (it answers as a login does). */
export async function emailLoginRoutes (app: FastifyInstance, opts: { config: Config }) {
  app.post<{ Body: { email: string, code: string } }>('/login/email', {
    preHandler: app.limits.login,
    schema: {
      summary: 'Sign in with a mailed code: answers exactly as POST /auth/login, amr ["email"]',
      description: `${docs.cookies} ${docs.dpop} A user with TOTP gets the second step instead (POST /auth/login/mfa). Errors: 400 VALIDATION, 401 INVALID_CREDENTIALS (unknown address, wrong, spent or expired code: one answer), 429 TOO_MANY_REQUESTS after 5 wrong codes for one address (15 minutes).`,
      tags: ['auth'],
      headers: AuthModeHeaders,
      body: { type: 'object', properties: { email: EmailSchema, code: { type: 'string', minLength: 1, maxLength: 16 } }, required: ['email', 'code'], additionalProperties: false },
      response: { 200: { anyOf: [TokenResponseSchema, MfaRequiredSchema] }, ...errors(400, 401, 429, 503) }
    }
  }, async function loginWithEmail (request: FastifyRequest<{ Body: { email: string, code: string } }>, reply) {
    authMode(request)
    const dpopJkt = await app.dpop.forTokenEndpoint(request, reply)
    // Wrong codes counted per address, known or not (the answer says nothing of who exists); always on, as for TOTP codes.
    const attempt = await app.mfaThrottle.begin(`email:${addressKey(request.body.email)}`, reply)
    let user
    try {
      user = await app.email.loginCodes.signIn(request.body.email, request.body.code)
    } catch (err) {
      if ((err as { code?: string }).code === 'INVALID_CREDENTIALS') {
        app.metrics.login('failed', 'email')
        app.security.info({ event: 'login_failed', via: 'email', ip: request.ip }, 'login failed')
      } else {
        await attempt.uncount()
      }
      throw err
    }
    await attempt.uncount()
    if (user.totp) {
      const mfaToken = await app.mfaTokens.issue(user.id, user.passwordVersion, { amr: ['email'] })
      app.security.info({ event: 'login_mfa_required', via: 'email', userId: user.id, ip: request.ip }, 'sign-in code accepted; second factor required')
      reply.header('cache-control', 'no-store').header('pragma', 'no-cache')
      return { mfa_required: true, mfa_token: mfaToken, expires_in: app.mfaTokens.ttl, methods: ['totp', 'recovery_code'] }
    }
    app.metrics.login('ok', 'email')
    const rotation = await app.sessions.open(user, { userAgent: request.headers['user-agent'], ip: request.ip, dpopJkt }, ['email'])
    app.security.info({ event: 'login', via: 'email', userId: user.id, sessionId: rotation.sessionId, ip: request.ip }, 'login')
    return sendTokens(app, opts.config, request, reply, rotation)
  })
}
