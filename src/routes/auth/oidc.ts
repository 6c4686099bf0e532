// Sign-in with an OpenID Connect provider: the providers, the browser's
// round trip (start, callback), the header-mode code exchange, and the ID
// token of a native app. The protocol is openid-client's (src/oidc/flow.ts);
// here is only what each step answers.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Config } from '../../config.ts'
import type { CheckedUser } from '../../accounts/accounts.ts'
import type { Federation } from '../../sessions/sessions.ts'
import { withFragment, type Mode } from '../../oidc/flow.ts'
import { AuthModeHeaders, MfaRequiredSchema, TokenResponseSchema, docs, errors } from './schemas.ts'
import { authMode, sendTokens, withCookies } from './token-response.ts'
import { BINDING_COOKIE, bindingOf, ProviderParams } from './oidc-binding.ts'
import { OidcLoginCodeInvalidError } from '../../errors.ts'

const ProvidersSchema = { type: 'array', items: { type: 'object', properties: { name: { type: 'string' }, label: { type: 'string' } }, required: ['name', 'label'] } } as const
const Redirect = { 302: { type: 'null', description: 'Location: the next hop' } }

export default async function oidcRoutes (app: FastifyInstance, opts: { config: Config }) {
  const { config } = opts
  const tags = ['sign in with a provider']

  /** Opens the session (or the second step) a verified sign-in leads to, as a password login would. */
  async function signInAnswer (request: FastifyRequest, reply: FastifyReply, user: CheckedUser, federation: Federation, dpopJkt: string | undefined) {
    if (user.totp) {
      const mfaToken = await app.mfaTokens.issue(user.id, user.passwordVersion, { amr: ['fed'], federation })
      app.security.info({ event: 'login_mfa_required', userId: user.id, via: 'oidc', ip: request.ip }, 'provider sign-in accepted; second factor required')
      return { mfaToken }
    }
    app.metrics.login('ok', 'oidc')
    const rotation = await app.sessions.open(user, { userAgent: request.headers['user-agent'], ip: request.ip, dpopJkt, federation }, ['fed'])
    app.security.info({ event: 'login', userId: user.id, sessionId: rotation.sessionId, via: 'oidc', identityId: federation.identityId, ip: request.ip }, 'login with a provider')
    return { rotation }
  }

  /** The body of a sign-in by API call (per the request's mode): tokens, or the second step for a user with TOTP. */
  async function tokenAnswer (request: FastifyRequest, reply: FastifyReply, user: CheckedUser, federation: Federation, dpopJkt: string | undefined) {
    const answer = await signInAnswer(request, reply, user, federation, dpopJkt)
    if (answer.rotation !== undefined) return sendTokens(app, config, request, reply, answer.rotation)
    reply.header('cache-control', 'no-store').header('pragma', 'no-cache')
    return { mfa_required: true, mfa_token: answer.mfaToken, expires_in: app.mfaTokens.ttl, methods: ['totp', 'recovery_code'] }
  }

  app.get('/oidc/providers', {
    schema: { tags, summary: 'The identity providers users may sign in with', response: { 200: ProvidersSchema } }
  }, async function listProviders () {
    return app.oidc.providers.list()
  })

  await withCookies(app, async (scope) => {
    scope.get<{ Params: { name: string }, Querystring: { return_to?: string, mode?: Mode, code_challenge?: string, code_challenge_method?: 'S256' } }>('/oidc/:name/start', {
      preHandler: app.limits.login,
      schema: {
        tags,
        summary: 'Start a sign-in at the provider: 302 to its authorization endpoint',
        description: 'Authorization code flow with PKCE S256, state and nonce; one transaction per start (one use, 600 s), bound to this browser by an HttpOnly cookie. return_to (default PUBLIC_URL/) must be on OIDC_RETURN_ORIGINS. mode=header: the callback hands the app a one-time login_code in the fragment instead of setting cookies. Errors: 400 RETURN_TO_INVALID, 404 NOT_FOUND (no such provider), 503 OIDC_PROVIDER_UNAVAILABLE (before any transaction exists).',
        params: ProviderParams,
        querystring: {
          type: 'object',
          properties: {
            return_to: { type: 'string', maxLength: 2000 },
            mode: { type: 'string', enum: ['cookie', 'header'] },
            // The app's own PKCE (RFC 7636) for the login_code: S256 only.
            code_challenge: { type: 'string', pattern: '^[A-Za-z0-9_-]{43}$' },
            code_challenge_method: { type: 'string', enum: ['S256'] }
          },
          dependencies: { code_challenge: ['code_challenge_method'] },
          additionalProperties: false
        },
        response: { ...Redirect, ...errors(400, 404, 429, 503) }
      }
    }, async function start (request, reply) {
      const binding = bindingOf(request, reply, config)
      const { return_to: returnTo, mode, code_challenge: appChallenge } = request.query
      const url = await app.oidc.flow.start(request.params.name, { returnTo, mode: mode ?? 'cookie', binding, appChallenge })
      reply.header('cache-control', 'no-store').header('referrer-policy', 'no-referrer')
      return reply.redirect(url, 302)
    })

    scope.get<{ Params: { name: string } }>('/oidc/:name/callback', {
      preHandler: app.limits.login,
      schema: {
        tags,
        summary: 'Where the provider sends the browser back: 302 to return_to, with the outcome',
        description: 'Cookie mode: the session\'s cookies are set as at a login, and return_to#csrf_token=<the CSRF value> (for a SPA on another site, which cannot read the cookie). Header mode: return_to#login_code=<one use, 60 s> for POST /auth/oidc/exchange. A user with TOTP: return_to#mfa_token=… for POST /auth/login/mfa. A link: return_to#linked=<provider>. Failures: return_to#error=<code> and no session: access_denied, OIDC_STATE_INVALID (spent, expired, or another browser\'s), OIDC_ID_TOKEN_INVALID (the answer does not verify: iss, nonce, signature, audience, expiry), OIDC_PROVIDER_UNAVAILABLE, ACCOUNT_DISABLED, IDENTITY_TAKEN. A state the service never issued: 400 OIDC_STATE_INVALID.',
        params: ProviderParams,
        response: { ...Redirect, ...errors(400, 404, 429, 503) }
      }
    }, async function callback (request, reply) {
      const name = request.params.name
      const query = new URLSearchParams(request.url.split('?')[1] ?? '')
      reply.header('cache-control', 'no-store').header('referrer-policy', 'no-referrer')
      const outcome = await app.oidc.flow.callback(name, query, request.cookies[BINDING_COOKIE])
      const back = (returnTo: string, params: Record<string, string>) => reply.redirect(withFragment(returnTo, params), 302)
      if (outcome.kind === 'failed') {
        app.metrics.login('failed', 'oidc')
        app.security.info({ event: 'oidc_failed', provider: name, code: outcome.code, ip: request.ip }, 'provider sign-in refused')
        return back(outcome.returnTo, { error: outcome.code })
      }
      const { tx, provider, claims } = outcome
      const ref = { name, trustEmail: provider.config.trustEmail }
      try {
        if (tx.linkUserId !== null) {
          const linked = await app.oidc.identities.link(tx.linkUserId, ref, claims)
          app.security.info({ event: 'identity_linked', userId: tx.linkUserId, provider: name, identityId: linked.identityId, ip: request.ip }, 'identity linked')
          return back(tx.returnTo, { linked: name })
        }
        const fed = await app.oidc.identities.signIn(ref, claims)
        if (fed.outcome !== 'signed-in') app.security.info({ event: fed.outcome === 'created' ? 'user_registered' : 'identity_linked', userId: fed.user.id, provider: name, identityId: fed.identityId, via: 'oidc', ip: request.ip }, fed.outcome === 'created' ? 'account made by a provider sign-in' : 'identity linked by its verified email')
        const federation = { identityId: fed.identityId, idpSid: typeof claims.sid === 'string' ? claims.sid : null }
        // Header mode, and cookie mode for a SPA on another site: cookies set here, on a navigation
        // to the service's own site, would be partitioned under it rather than the SPA's, so the SPA
        // exchanges a login_code from its own page and gets them there.
        if ((tx.mode === 'header' || config.cookieSameSite === 'none') && !fed.user.totp) {
          return back(tx.returnTo, { login_code: await app.oidc.loginCodes.issue(fed.user, federation, tx.appChallenge) })
        }
        const answer = await signInAnswer(request, reply, fed.user, federation, undefined)
        if (answer.rotation === undefined) return back(tx.returnTo, { mfa_token: answer.mfaToken })
        // The cookies are set; the CSRF value rides in the fragment too, for a SPA on another site that cannot read its cookie.
        const body = sendTokens(app, config, request, reply, answer.rotation)
        return back(tx.returnTo, { csrf_token: String(body.csrf_token) })
      } catch (err) {
        const code = (err as { code?: string }).code
        if (code !== 'ACCOUNT_DISABLED' && code !== 'IDENTITY_TAKEN' && code !== 'OIDC_ID_TOKEN_INVALID') throw err
        app.metrics.login('failed', 'oidc')
        app.security.info({ event: 'oidc_failed', provider: name, code, ip: request.ip }, 'provider sign-in refused')
        return back(tx.returnTo, { error: code })
      }
    })
  })

  await withCookies(app, (scope) => scope.post<{ Body: { login_code: string, code_verifier?: string } }>('/oidc/exchange', {
    preHandler: app.limits.login,
    schema: {
      tags,
      summary: 'Exchange a login_code for tokens',
      description: `Answers exactly as a header-mode login; with X-Auth-Mode: cookie (a SPA on another site), as a cookie-mode login. ${docs.dpop} Errors: 400 OIDC_LOGIN_CODE_INVALID (unknown, spent or expired: 60 s; or the account was disabled or its password changed since), 429.`,
      headers: AuthModeHeaders,
      body: {
        type: 'object',
        properties: { login_code: { type: 'string', maxLength: 128 }, code_verifier: { type: 'string', pattern: '^[A-Za-z0-9._~-]{43,128}$' } },
        required: ['login_code'],
        additionalProperties: false
      },
      response: { 200: { anyOf: [TokenResponseSchema, MfaRequiredSchema] }, ...errors(400, 401, 429, 503) }
    }
  }, async function exchange (request, reply) {
    // Header mode unless the caller asks for cookies (DPOP_REQUIRED=header applies to header mode).
    request.headers['x-auth-mode'] ??= 'header'
    authMode(request)
    const dpopJkt = await app.dpop.forTokenEndpoint(request, reply)
    const taken = await app.oidc.loginCodes.take(request.body.login_code, request.body.code_verifier)
    // The account as it is now: enabled, its password unchanged since the sign-in.
    const user = await app.accounts.reread({ id: taken.userId, passwordVersion: taken.passwordVersion })
    if (user === undefined) throw new OidcLoginCodeInvalidError()
    return await tokenAnswer(request, reply, user, taken.federation, dpopJkt)
  }))

  app.post<{ Params: { name: string }, Body: { id_token: string, nonce?: string } }>('/oidc/:name/id-token', {
    preHandler: app.limits.login,
    schema: {
      tags,
      summary: 'Sign in with an ID token a native app got from the provider\'s own SDK',
      description: `Verified against the provider's keys (fetched again for an unknown kid): signature, iss, aud = the client id, exp, and nonce when given; each ID token signs in once. Answers as a header-mode login, or {mfa_required, mfa_token, …} for a user with TOTP. ${docs.dpop} Errors: 401 OIDC_ID_TOKEN_INVALID, 403 ACCOUNT_DISABLED, 404 NOT_FOUND, 503 OIDC_PROVIDER_UNAVAILABLE.`,
      params: ProviderParams,
      body: {
        type: 'object',
        properties: { id_token: { type: 'string', minLength: 1, maxLength: 8192 }, nonce: { type: 'string', minLength: 1, maxLength: 512 } },
        required: ['id_token'],
        additionalProperties: false
      },
      response: { 200: { anyOf: [TokenResponseSchema, MfaRequiredSchema] }, ...errors(400, 401, 403, 404, 429, 503) }
    }
  }, async function idToken (request, reply) {
    request.headers['x-auth-mode'] = 'header'
    const provider = app.oidc.providers.get(request.params.name)
    const dpopJkt = await app.dpop.forTokenEndpoint(request, reply)
    let fed
    try {
      const claims = await app.oidc.tokens.idToken(provider, request.body.id_token, request.body.nonce)
      fed = await app.oidc.identities.signIn({ name: provider.config.name, trustEmail: provider.config.trustEmail }, claims as Parameters<typeof app.oidc.identities.signIn>[1])
    } catch (err) {
      if ((err as { code?: string }).code !== 'OIDC_PROVIDER_UNAVAILABLE') {
        app.metrics.login('failed', 'oidc')
        app.security.info({ event: 'oidc_failed', provider: provider.config.name, code: (err as { code?: string }).code, via: 'id-token', ip: request.ip }, 'provider ID token refused')
      }
      throw err
    }
    return await tokenAnswer(request, reply, fed.user, { identityId: fed.identityId, idpSid: null }, dpopJkt)
  })
}
