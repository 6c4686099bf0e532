// POST /auth/register and POST /auth/login.
import type { FastifyInstance } from 'fastify'
import type { Config } from '../../config.ts'
import { AuthModeHeaders, CredentialsSchema, LoginCredentialsSchema, MfaRequiredSchema, TokenResponseSchema, UserSchema, docs, errors } from './schemas.ts'
import { sendTokens, authMode } from './token-response.ts'
import { EmailSchema } from '../../email/address.ts'

interface Credentials { username: string, password: string }

// Registration may name an address: a verification link goes to it (the answer says nothing of whether it is in use).
const RegisterSchema = { ...CredentialsSchema, properties: { ...CredentialsSchema.properties, email: EmailSchema } } as const

export default async function credentialRoutes (app: FastifyInstance, opts: { config: Config }) {
  app.post<{ Body: Credentials & { email?: string } }>('/register', {
    preHandler: app.limits.register,
    schema: {
      summary: 'Create an account (role "user")',
      description: 'An optional `email` gets a verification link (an address another account verified is not set; that account is told). Errors: 400 VALIDATION, 400 PASSWORD_TOO_COMMON, 409 USERNAME_TAKEN (case-insensitive), 429 TOO_MANY_REQUESTS, 503 EMAIL_UNAVAILABLE (an email, in production without SMTP_URL).',
      tags: ['auth'],
      body: RegisterSchema,
      response: { 201: UserSchema, ...errors(400, 409, 429, 503) }
    }
  }, async function register (request, reply) {
    const { email } = request.body
    if (email !== undefined) await app.mail.requireMail()
    const user = await app.accounts.register(request.body.username, request.body.password)
    if (email !== undefined) await app.email.flows.registered(user, email)
    app.security.info({ event: 'user_registered', userId: user.id, username: user.username, ip: request.ip }, 'user registered')
    reply.code(201)
    return { id: user.id, username: user.username, roles: user.roles }
  })

  app.post<{ Body: Credentials }>('/login', {
    preHandler: app.limits.login,
    schema: {
      summary: 'Log in; cookie mode sets the refresh cookie, header mode returns the refresh token',
      description: `${docs.cookies} ${docs.dpop} A user with TOTP gets \`{mfa_required, mfa_token, expires_in, methods}\` instead, and no token or cookie: the second step is POST /auth/login/mfa. Errors: 400 VALIDATION, 401 INVALID_CREDENTIALS (same for an unknown user), 429 TOO_MANY_REQUESTS with Retry-After, 503 SERVICE_UNAVAILABLE.`,
      tags: ['auth'],
      headers: AuthModeHeaders,
      body: LoginCredentialsSchema,
      response: { 200: { anyOf: [TokenResponseSchema, MfaRequiredSchema] }, ...errors(400, 401, 429, 503) }
    }
  }, async function login (request, reply) {
    authMode(request) // a bad mode is refused before any work
    // A proof, if sent, is checked before any other work; its key binds the session opened here.
    const dpopJkt = await app.dpop.forTokenEndpoint(request, reply)
    const { username, password } = request.body
    const attempt = await app.loginThrottle.begin(username, request, reply)
    let user
    try {
      user = await app.accounts.authenticate(username, password)
    } catch (err) {
      if ((err as { code?: string }).code === 'INVALID_CREDENTIALS') {
        app.metrics.login('failed', 'password')
        app.security.info({ event: 'login_failed', username: username.slice(0, 64), ip: request.ip }, 'login failed')
      } else {
        await attempt.uncount()
      }
      throw err
    }
    await attempt.succeeded()
    // A hash made at another BCRYPT_COST is made again now that the password is known to be right.
    await app.accounts.rehashIfNeeded(user, password).catch((err) => app.log.warn({ reqId: request.id, err: { message: err.message } }, 'password re-hash failed; retried at the next login'))
    if (user.totp) {
      const mfaToken = await app.mfaTokens.issue(user.id, user.passwordVersion)
      app.security.info({ event: 'login_mfa_required', userId: user.id, ip: request.ip }, 'password accepted; second factor required')
      reply.header('cache-control', 'no-store').header('pragma', 'no-cache')
      return { mfa_required: true, mfa_token: mfaToken, expires_in: app.mfaTokens.ttl, methods: ['totp', 'recovery_code'] }
    }
    app.metrics.login('ok', 'password')
    const rotation = await app.sessions.open(user, { userAgent: request.headers['user-agent'], ip: request.ip, dpopJkt }, ['pwd'])
    app.security.info({ event: 'login', userId: user.id, sessionId: rotation.sessionId, ip: request.ip }, 'login')
    return sendTokens(app, opts.config, request, reply, rotation)
  })
}
