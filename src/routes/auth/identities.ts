// A signed-in user's provider identities: link one (step-up, then the
// provider), list them, unlink one (step-up; never the last way in). And the
// providers' back-channel logout, which ends the sessions a provider session
// opened, on every instance.
import type { FastifyInstance } from 'fastify'
import type { Config } from '../../config.ts'
import { errors } from './schemas.ts'
import { withCookies } from './token-response.ts'
import { bindingOf, ProviderParams } from './oidc-binding.ts'

const IdentitySchema = {
  type: 'object',
  properties: { id: { type: 'string' }, provider: { type: 'string' }, email: { type: ['string', 'null'] }, linkedAt: { type: 'string', format: 'date-time' } },
  required: ['id', 'provider', 'email', 'linkedAt']
} as const

export default async function identityLinkRoutes (app: FastifyInstance, opts: { config: Config }) {
  const { config } = opts
  const guarded = { tags: ['sign in with a provider'], security: [{ bearer: [] }] }

  await withCookies(app, (scope) => scope.post<{ Params: { name: string }, Body: { return_to: string } }>('/oidc/:name/link', {
    onRequest: app.authenticate,
    preHandler: app.requireStepUp,
    schema: {
      ...guarded,
      summary: 'Link an identity at a provider to the signed-in user: {url} to send the browser to',
      description: 'After the provider, the browser comes back to return_to#linked=<provider>, or return_to#error=IDENTITY_TAKEN when that identity signs in to another account. The transaction is bound to this browser by an HttpOnly cookie set here. Step-up: 401 MFA_REQUIRED or REAUTH_REQUIRED. Errors: 400 RETURN_TO_INVALID, 404 NOT_FOUND, 503 OIDC_PROVIDER_UNAVAILABLE.',
      params: ProviderParams,
      body: { type: 'object', properties: { return_to: { type: 'string', maxLength: 2000 } }, required: ['return_to'], additionalProperties: false },
      response: { 200: { type: 'object', properties: { url: { type: 'string' } }, required: ['url'] }, ...errors(400, 401, 404, 503) }
    }
  }, async function link (request, reply) {
    const binding = bindingOf(request, reply, config)
    const url = await app.oidc.flow.start(request.params.name, { returnTo: request.body.return_to, mode: 'cookie', binding, linkUserId: request.auth!.sub })
    reply.header('cache-control', 'no-store')
    return { url }
  }))

  app.get('/identities', {
    onRequest: app.authenticate,
    schema: { ...guarded, summary: 'The provider identities linked to the signed-in user', response: { 200: { type: 'array', items: IdentitySchema }, ...errors(401, 503) } }
  }, async function listIdentities (request, reply) {
    reply.header('cache-control', 'no-store')
    return await app.oidc.identities.list(request.auth!.sub)
  })

  app.delete<{ Params: { id: string } }>('/identities/:id', {
    onRequest: app.authenticate,
    preHandler: app.requireStepUp,
    schema: {
      ...guarded,
      summary: 'Unlink an identity; the sessions it opened end (but this one)',
      description: 'Step-up: 401 MFA_REQUIRED or REAUTH_REQUIRED. Errors: 404 NOT_FOUND (not one of the user\'s), 409 LAST_SIGN_IN_METHOD (no password, passkey or other identity would be left).',
      params: { type: 'object', properties: { id: { type: 'string', maxLength: 64 } }, required: ['id'] },
      response: { 204: { type: 'null' }, ...errors(401, 404, 409, 503) }
    }
  }, async function unlink (request, reply) {
    const { sub, sid } = request.auth!
    const ended = await app.oidc.identities.unlink(sub, request.params.id, sid)
    app.security.info({ event: 'identity_unlinked', userId: sub, identityId: request.params.id, endedSessions: ended.length, ip: request.ip }, 'identity unlinked')
    reply.code(204).send()
  })

  // Back-channel logout: a form POST from the provider, parsed in this scope only.
  await app.register(async function backchannel (scope) {
    scope.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 16384 }, (_request, body, done) => {
      done(null, Object.fromEntries(new URLSearchParams(body as string)))
    })
    scope.post<{ Params: { name: string }, Body: { logout_token: string } }>('/oidc/:name/backchannel-logout', {
      schema: {
        tags: ['sign in with a provider'],
        summary: 'OpenID Connect Back-Channel Logout 1.0: the provider ended a session',
        description: 'Form field logout_token, signed by the provider. Ends the sessions opened through that provider session (sid), or every session the identity opened (sub alone), at once on every instance. Errors: 400 OIDC_LOGOUT_TOKEN_INVALID (signature, iss, aud, iat, replayed jti, no back-channel event, neither sub nor sid, a nonce), 404 NOT_FOUND, 503.',
        params: ProviderParams,
        body: { type: 'object', properties: { logout_token: { type: 'string', minLength: 1, maxLength: 8192 } }, required: ['logout_token'] },
        response: { 200: { type: 'null' }, ...errors(400, 404, 503) }
      }
    }, async function backchannelLogout (request, reply) {
      const provider = app.oidc.providers.get(request.params.name)
      const named = await app.oidc.tokens.logoutToken(provider, request.body.logout_token)
      const ended = await app.oidc.identities.logout(named)
      app.security.info({ event: 'backchannel_logout', provider: provider.config.name, endedSessions: ended.length, ...(named.sid !== undefined ? { sid: 'present' } : {}) }, 'provider ended its session: sessions opened through it ended')
      reply.header('cache-control', 'no-store').code(200).send()
    })
  })
}
