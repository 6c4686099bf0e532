// POST /auth/reauthenticate: a signed-in session proves who it is again
// (password, with the second factor when the user has TOTP, or a passkey of
// this user) and gets an access token of the SAME session whose auth_time is
// now and whose amr says how; the Session row records both, so refreshes keep
// the step-up. No new session, no refresh token, no cookie.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { AuthenticationResponseJSON } from '@simplewebauthn/server'
import { DpopProofInvalidError, InvalidCredentialsError, MfaCodeInvalidError, MfaRequiredError, PasskeyInvalidError, TokenRevokedError, unauthorized, ValidationError } from '../../errors.ts'
import { CodeSchema, TokenResponseSchema, docs, errors } from './schemas.ts'

interface ReauthBody { password?: string, code?: string, passkey?: AuthenticationResponseJSON }

const ReauthBodySchema = {
  type: 'object',
  properties: {
    password: { type: 'string', minLength: 1, maxLength: 1024 },
    code: CodeSchema,
    // The assertion's outline and size; @simplewebauthn/server checks the rest.
    passkey: { type: 'object', properties: { id: { type: 'string', maxLength: 1024 }, response: { type: 'object' } }, required: ['id', 'response'] }
  },
  additionalProperties: false
} as const

export default async function reauthenticateRoutes (app: FastifyInstance) {
  /** The password (and the TOTP step when the user has it): the amr it proves. */
  async function byPassword (request: FastifyRequest, reply: FastifyReply, body: ReauthBody): Promise<string[]> {
    const { sub, preferred_username: username } = request.auth!
    const user = await app.accounts.byId(sub)
    if (user === undefined || user.disabled) throw new InvalidCredentialsError()
    // Asked before any password work: the session's holder can see that the user has TOTP anyway (GET /auth/mfa).
    if (user.totp && body.code === undefined) throw new MfaRequiredError()
    const attempt = await app.loginThrottle.begin(username, request, reply)
    let ok
    try {
      // No password (an account of a provider's): the same work and answer as a wrong one.
      ok = user.passwordHash === null
        ? await app.passwords.verifyNothing(body.password!).then(() => false)
        : await app.passwords.verify(body.password!, user.passwordHash)
    } catch (err) {
      await attempt.uncount()
      throw err
    }
    if (!ok) throw new InvalidCredentialsError() // stays counted, as a failed login
    await attempt.uncount()
    if (!user.totp) return ['pwd']
    // The same per-account limit on wrong codes as the login's second step.
    const codeAttempt = await app.mfaThrottle.begin(sub, reply)
    let used
    try {
      used = await app.totp.use(sub, body.code!)
    } catch (err) {
      await codeAttempt.uncount()
      throw err
    }
    if (used === false) throw unauthorized(new MfaCodeInvalidError()) // stays counted
    await codeAttempt.uncount()
    return ['pwd', 'otp']
  }

  app.post<{ Body: ReauthBody }>('/reauthenticate', {
    onRequest: app.authenticate,
    preHandler: app.limits.login,
    schema: {
      tags: ['auth'],
      security: [{ bearer: [] }],
      summary: 'Prove who you are again: an access token of this session with auth_time now',
      description: `Body: {password} (plus {code}, a TOTP or recovery code, when the user has TOTP), or {passkey: <WebAuthn assertion>} after POST /auth/passkeys/authentication/options, by a passkey of this user. Answers {access_token, token_type, expires_in, user} for the same session (same sid, same DPoP binding), amr pwd, pwd+otp, or the passkey's hwk/swk(+user); the session keeps them for its refreshes. No refresh token or cookie. ${docs.bearer} Errors: 400 VALIDATION (neither or both of password and passkey), 401 INVALID_CREDENTIALS (wrong password, counted as a failed login), 401 MFA_REQUIRED (the user has TOTP and no code was sent; nothing counted), 401 MFA_CODE_INVALID, 401 PASSKEY_INVALID (does not verify, or a passkey of another user), 429.`,
      body: ReauthBodySchema,
      response: { 200: TokenResponseSchema, ...errors(400, 401, 429, 503) }
    }
  }, async function reauthenticate (request, reply) {
    const body = request.body
    if ((body.password === undefined) === (body.passkey === undefined)) throw new ValidationError('send either password (with code when the user has TOTP) or passkey')
    if (body.passkey !== undefined && body.code !== undefined) throw new ValidationError('code goes with password, not with passkey')
    const claims = request.auth!
    const { sub, sid } = claims
    const session = await app.sessionAuth.live(sid, sub)
    if (session === undefined) throw new TokenRevokedError()
    // Same binding: a bound session's proof was checked by app.authenticate against the token's key, which must be the session's.
    if (session.dpopJkt !== (claims.cnf?.jkt ?? null)) throw new DpopProofInvalidError('this session is bound to a DPoP key: present its access token with a proof by that key')
    const how = body.passkey !== undefined ? 'passkey' : 'password'
    let amr: string[]
    try {
      amr = how === 'passkey'
        ? (await app.passkeys.authenticate(body.passkey!, sub)).amr
        : await byPassword(request, reply, body)
    } catch (err) {
      const code = (err as { code?: string }).code
      if (code === 'INVALID_CREDENTIALS' || code === 'MFA_CODE_INVALID' || code === 'PASSKEY_INVALID') {
        app.security.info({ event: 'reauth_failed', userId: sub, sessionId: sid, how, reason: code, ip: request.ip }, 'reauthentication refused')
      }
      throw err
    }
    const user = await app.accounts.byId(sub)
    if (user === undefined || user.disabled) throw how === 'passkey' ? unauthorized(new PasskeyInvalidError()) : new InvalidCredentialsError()
    const now = Date.now()
    if (!await app.sessionAuth.restamp(sid, sub, amr, now)) throw new TokenRevokedError()
    const access = app.tokens.issue(user, sid, { amr, authTime: Math.floor(now / 1000), endsAt: Math.floor(session.expiresAt.getTime() / 1000) }, session.dpopJkt)
    app.security.info({ event: 'reauthenticated', userId: sub, sessionId: sid, amr, ip: request.ip }, 'session reauthenticated')
    reply.header('cache-control', 'no-store').header('pragma', 'no-cache')
    return {
      access_token: access.token,
      token_type: session.dpopJkt === null ? 'Bearer' : 'DPoP',
      expires_in: access.expiresIn,
      user: { id: user.id, username: user.username, roles: user.roles }
    }
  })
}
