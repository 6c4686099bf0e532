// Passkeys: registration (signed in), the user's list, and sign-in with one.
import type { FastifyInstance } from 'fastify'
import type { AuthenticationResponseJSON, RegistrationResponseJSON } from '@simplewebauthn/server'
import type { Config } from '../../config.ts'
import { NotFoundError, PasskeyInvalidError, unauthorized } from '../../errors.ts'
import { isCredentialId } from '../../mfa/passkeys.ts'
import { AuthModeHeaders, NO_CONTROL_CHARS, TokenResponseSchema, docs, errors } from './schemas.ts'
import { authMode, sendTokens, withCookies } from './token-response.ts'

const PasskeySchema = {
  type: 'object',
  properties: { id: { type: 'string' }, name: { type: 'string' }, createdAt: { type: 'string', format: 'date-time' }, lastUsedAt: { type: ['string', 'null'], format: 'date-time' } },
  required: ['id', 'name', 'createdAt', 'lastUsedAt']
} as const
// WebAuthn's JSON forms are checked by @simplewebauthn/server; here only their outline and size.
const ResponseJson = { type: 'object', properties: { id: { type: 'string', maxLength: 1024 }, response: { type: 'object' } }, required: ['id', 'response'] } as const
// A label a person reads: no control characters (a NUL would reach PostgreSQL, which refuses it).
const NameSchema = { type: 'string', minLength: 1, maxLength: 64, pattern: NO_CONTROL_CHARS } as const
const IdParams = { type: 'object', properties: { id: { type: 'string', maxLength: 1024 } }, required: ['id'] } as const
const Options = { type: 'object', additionalProperties: true } as const

export default async function passkeyRoutes (app: FastifyInstance, opts: { config: Config }) {
  const guarded = { tags: ['passkeys'], security: [{ bearer: [] }] }

  app.post('/passkeys/registration/options', {
    onRequest: app.authenticate,
    preHandler: app.requireStepUp,
    schema: { ...guarded, summary: 'WebAuthn creation options (JSON form) for a new passkey', description: docs.stepUp, response: { 200: Options, ...errors(401, 503) } }
  }, async function registrationOptions (request, reply) {
    reply.header('cache-control', 'no-store')
    return app.passkeys.registrationOptions({ id: request.auth!.sub, username: request.auth!.preferred_username })
  })

  app.post<{ Body: { response: RegistrationResponseJSON, name?: string } }>('/passkeys/registration', {
    onRequest: app.authenticate,
    preHandler: app.requireStepUp,
    schema: {
      ...guarded,
      summary: 'Register a passkey from the authenticator\'s response',
      description: `${docs.stepUp} Errors: 400 PASSKEY_INVALID (does not verify, wrong origin or RP ID, spent or expired challenge, already registered), 400 VALIDATION (a name with control characters).`,
      body: { type: 'object', properties: { response: ResponseJson, name: NameSchema }, required: ['response'], additionalProperties: false },
      response: { 201: PasskeySchema, ...errors(400, 401, 503) }
    }
  }, async function register (request, reply) {
    const passkey = await app.passkeys.register(request.auth!.sub, request.body.response, request.body.name)
    app.security.info({ event: 'passkey_registered', userId: request.auth!.sub, passkeyId: passkey.id.slice(0, 32), ip: request.ip }, 'passkey registered')
    reply.code(201)
    return passkey
  })

  app.get('/passkeys', {
    onRequest: app.authenticate,
    schema: { ...guarded, summary: 'The passkeys of the current user', response: { 200: { type: 'array', items: PasskeySchema }, ...errors(401, 503) } }
  }, async function listPasskeys (request) {
    return app.passkeys.list(request.auth!.sub)
  })

  app.patch<{ Params: { id: string }, Body: { name: string } }>('/passkeys/:id', {
    onRequest: app.authenticate,
    schema: {
      ...guarded,
      summary: 'Rename a passkey',
      params: IdParams,
      body: { type: 'object', properties: { name: NameSchema }, required: ['name'], additionalProperties: false },
      response: { 200: PasskeySchema, ...errors(400, 401, 404, 503) }
    }
  }, async function renamePasskey (request) {
    if (!isCredentialId(request.params.id)) throw new NotFoundError('No such passkey')
    return app.passkeys.rename(request.auth!.sub, request.params.id, request.body.name)
  })

  app.delete<{ Params: { id: string } }>('/passkeys/:id', {
    onRequest: app.authenticate,
    preHandler: app.requireStepUp,
    schema: { ...guarded, summary: 'Delete a passkey', description: `${docs.stepUp} Errors: 404, 409 LAST_SIGN_IN_METHOD (an account with no password and no provider identity keeps its last passkey).`, params: IdParams, response: { 204: { type: 'null' }, ...errors(401, 404, 409, 503) } }
  }, async function deletePasskey (request, reply) {
    if (!isCredentialId(request.params.id)) throw new NotFoundError('No such passkey')
    await app.passkeys.remove(request.auth!.sub, request.params.id)
    app.security.info({ event: 'passkey_deleted', userId: request.auth!.sub, passkeyId: request.params.id.slice(0, 32), ip: request.ip }, 'passkey deleted')
    reply.code(204).send()
  })

  app.post<{ Body: { username?: string } | null }>('/passkeys/authentication/options', {
    preHandler: app.limits.login,
    schema: {
      tags: ['passkeys'],
      summary: 'WebAuthn request options: for a discoverable passkey (no username) or for the named user',
      body: { type: ['object', 'null'], properties: { username: { type: 'string', maxLength: 256 } }, additionalProperties: false },
      response: { 200: Options, ...errors(400, 429, 503) }
    }
  }, async function authenticationOptions (request, reply) {
    reply.header('cache-control', 'no-store')
    return app.passkeys.authenticationOptions(request.body?.username)
  })

  await withCookies(app, (app) => app.post<{ Body: { response: AuthenticationResponseJSON } }>('/passkeys/authentication', {
    preHandler: app.limits.login,
    schema: {
      tags: ['passkeys'],
      summary: 'Sign in with a passkey; answers exactly as a login (no second step)',
      description: `${docs.cookies} ${docs.dpop} Errors: 401 PASSKEY_INVALID (unknown credential, bad signature, wrong origin or RP ID, spent or expired challenge, counter gone backwards), 429.`,
      headers: AuthModeHeaders,
      body: { type: 'object', properties: { response: ResponseJson }, required: ['response'], additionalProperties: false },
      response: { 200: TokenResponseSchema, ...errors(400, 401, 429, 503) }
    }
  }, async function authenticate (request, reply) {
    authMode(request)
    // A proof, if sent, is checked before any other work; its key binds the session opened here.
    const dpopJkt = await app.dpop.forTokenEndpoint(request, reply)
    let signIn
    try {
      signIn = await app.passkeys.authenticate(request.body.response)
    } catch (err) {
      app.metrics.login('failed', 'passkey')
      app.security.info({ event: 'passkey_login_failed', ip: request.ip }, 'passkey sign-in refused')
      throw err
    }
    const user = await app.accounts.byId(signIn.userId)
    if (user === undefined || user.disabled) throw unauthorized(new PasskeyInvalidError())
    app.metrics.login('ok', 'passkey')
    const rotation = await app.sessions.open(user, { userAgent: request.headers['user-agent'], ip: request.ip, dpopJkt }, signIn.amr)
    app.security.info({ event: 'login', userId: user.id, sessionId: rotation.sessionId, ip: request.ip, amr: signIn.amr }, 'login with a passkey')
    return sendTokens(app, opts.config, request, reply, rotation)
  }))
}
