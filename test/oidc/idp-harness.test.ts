// The OpenID Provider every OIDC test runs (test/helpers/oidc-provider.ts), proven with the
// relying-party library the service uses: openid-client v6, over real HTTP, no mock.
import t from 'tap'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import * as oidc from 'openid-client'
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose'
import { startIdp, type Browser, type Idp } from '../helpers/oidc-provider.ts'

const CALLBACK = 'http://127.0.0.1:9/auth/oidc/corp/callback'
const SCOPE = 'openid email profile'

/** A back-channel logout receiver: records each POST, answers `status`. */
async function receiver (status: number): Promise<{ url: string, posts: Array<{ type?: string, body: URLSearchParams }>, server: Server }> {
  const posts: Array<{ type?: string, body: URLSearchParams }> = []
  const server = createServer((req, res) => {
    let body = ''
    req.on('data', (chunk) => { body += chunk })
    req.on('end', () => {
      posts.push({ type: req.headers['content-type'], body: new URLSearchParams(body) })
      res.statusCode = status
      res.end()
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/backchannel-logout`, posts, server }
}

const discover = (idp: Idp, clientId: string, secret?: string) =>
  oidc.discovery(new URL(idp.issuer), clientId, secret, undefined, { execute: [oidc.allowInsecureRequests] })

/** The service's flow: PKCE S256, state and nonce; the provider's pages; the code exchanged. */
async function signIn (idp: Idp, config: oidc.Configuration, sub: string, browser?: Browser) {
  const verifier = oidc.randomPKCECodeVerifier()
  const state = oidc.randomState()
  const nonce = oidc.randomNonce()
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: CALLBACK,
    scope: SCOPE,
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    nonce
  })
  const callback = new URL(await idp.authorize(url.href, sub, { browser }))
  const tokens = await oidc.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce })
  return { callback, state, nonce, tokens, claims: tokens.claims()!, header: decodeProtectedHeader(tokens.id_token!) }
}

t.test('the OpenID Provider harness', async (t) => {
  const good = await receiver(200)
  const broken = await receiver(400)
  t.teardown(() => { good.server.close(); broken.server.close() })
  const idp = await startIdp({
    clients: [
      { client_id: 'svc', client_secret: 'svc-secret', redirect_uris: [CALLBACK], backchannel_logout_uri: good.url },
      { client_id: 'svc2', client_secret: 'svc2-secret', redirect_uris: [CALLBACK], backchannel_logout_uri: broken.url },
      { client_id: 'app', redirect_uris: [CALLBACK] }
    ]
  })
  t.teardown(idp.close)
  idp.accounts.set('alice', { sub: 'alice', email: 'alice@example.com', email_verified: true, preferred_username: 'alice.w', name: 'Alice W' })
  idp.accounts.set('bob', { sub: 'bob', email: 'bob@example.com', email_verified: false })
  const svc = await discover(idp, 'svc', 'svc-secret')

  t.test('discovery says what the service relies on', async (t) => {
    const meta = svc.serverMetadata()
    t.equal(meta.issuer, idp.issuer)
    t.match(idp.issuer, /^http:\/\/127\.0\.0\.1:\d+$/)
    t.equal(meta.authorization_response_iss_parameter_supported, true, 'RFC 9207 iss in every authorization response')
    t.same(meta.code_challenge_methods_supported, ['S256'])
    t.equal(meta.backchannel_logout_supported, true)
    t.equal(meta.backchannel_logout_session_supported, true)
    t.equal(meta.end_session_endpoint, `${idp.issuer}/session/end`)
    t.same(meta.scopes_supported, ['openid', 'email', 'profile'])
    for (const method of ['client_secret_basic', 'client_secret_post', 'none']) t.ok(meta.token_endpoint_auth_methods_supported!.includes(method), method)
  })

  t.test('a confidential client signs alice in: code, state and iss at the callback; her claims in the ID token', async (t) => {
    const { callback, state, nonce, claims, header } = await signIn(idp, svc, 'alice')
    t.equal(callback.origin + callback.pathname, CALLBACK)
    t.same([...callback.searchParams.keys()].sort(), ['code', 'iss', 'state'])
    t.equal(callback.searchParams.get('state'), state)
    t.equal(callback.searchParams.get('iss'), idp.issuer)
    t.match(claims, { iss: idp.issuer, aud: 'svc', sub: 'alice', nonce, email: 'alice@example.com', email_verified: true, preferred_username: 'alice.w', name: 'Alice W' })
    t.type(claims.sid, 'string', 'sid: the client has back-channel logout')
    t.equal(header.alg, 'RS256')
    t.equal(header.kid, idp.currentKid())
    t.equal(claims.exp - claims.iat, 3600)
  })

  t.test("the client secret in the body (openid-client's default) or in Basic: both taken; a wrong one is not", async (t) => {
    const basic = await oidc.discovery(new URL(idp.issuer), 'svc', undefined, oidc.ClientSecretBasic('svc-secret'), { execute: [oidc.allowInsecureRequests] })
    t.equal((await signIn(idp, basic, 'alice')).claims.sub, 'alice')
    const refused = await signIn(idp, await discover(idp, 'svc', 'wrong'), 'alice').catch((err: unknown) => err)
    t.match(refused, { name: 'ResponseBodyError', error: 'invalid_client', status: 401 })
  })

  t.test('a public client (PKCE only); an unverified email says so; no sid without back-channel logout', async (t) => {
    const app = await discover(idp, 'app')
    const { claims } = await signIn(idp, app, 'bob')
    t.match(claims, { aud: 'app', sub: 'bob', email: 'bob@example.com', email_verified: false })
    t.notOk('preferred_username' in claims)
    t.notOk('sid' in claims)
  })

  t.test('an account the test did not describe has only its sub', async (t) => {
    const { claims } = await signIn(idp, svc, 'carol')
    t.equal(claims.sub, 'carol')
    t.notOk('email' in claims)
  })

  t.test('PKCE is required: no code_challenge, an error at the callback', async (t) => {
    const url = oidc.buildAuthorizationUrl(svc, { redirect_uri: CALLBACK, scope: SCOPE, state: 's1', nonce: 'n1' })
    const callback = new URL(await idp.authorize(url.href, 'alice'))
    t.equal(callback.searchParams.get('error'), 'invalid_request')
    t.match(callback.searchParams.get('error_description'), /requires PKCE/)
    t.equal(callback.searchParams.get('iss'), idp.issuer)
  })

  t.test('a redirect_uri the provider does not know: no redirect, authorize() throws with its error', async (t) => {
    const url = oidc.buildAuthorizationUrl(svc, { redirect_uri: 'http://127.0.0.1:9/elsewhere', scope: SCOPE, state: 's', code_challenge: 'x'.repeat(43), code_challenge_method: 'S256' })
    await t.rejects(idp.authorize(url.href, 'alice'), { message: "the provider answered 400 at /auth: Error invalid_redirect_uri: redirect_uri did not match any of the client's registered redirect_uris" })
  })

  t.test('the user refuses consent: error=access_denied with state and iss', async (t) => {
    const url = oidc.buildAuthorizationUrl(svc, {
      redirect_uri: CALLBACK, scope: SCOPE, state: 'st-deny', nonce: 'n', code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()), code_challenge_method: 'S256'
    })
    const callback = new URL(await idp.authorize(url.href, 'alice', { deny: true }))
    t.equal(callback.searchParams.get('error'), 'access_denied')
    t.equal(callback.searchParams.get('state'), 'st-deny')
    t.equal(callback.searchParams.get('iss'), idp.issuer)
    t.notOk(callback.searchParams.has('code'))
  })

  t.test('one browser: single sign-on, then logout at the provider posts logout tokens to each client', async (t) => {
    const browser = idp.newBrowser()
    const first = await signIn(idp, svc, 'alice', browser)
    const second = await signIn(idp, await discover(idp, 'svc2', 'svc2-secret'), 'someone-else', browser)
    t.equal(second.claims.sub, 'alice', 'the provider session signs alice in again: no login page')
    t.not(second.claims.sid, first.claims.sid, 'one sid per client')
    t.ok(browser.cookiesFor(new URL(idp.issuer)).some((c) => c.name === `idp${idp.port}_session`))

    good.posts.length = 0
    broken.posts.length = 0
    const results = await idp.endSession(browser)
    t.same(results.sort((a, b) => a.clientId.localeCompare(b.clientId)), [
      { clientId: 'svc', sub: 'alice', sid: first.claims.sid },
      { clientId: 'svc2', sub: 'alice', sid: second.claims.sid, error: `expected 200 OK from ${broken.url}, got: 400 Bad Request` }
    ])
    t.equal(good.posts.length, 1, 'already received when endSession resolves')
    t.equal(broken.posts.length, 1)
    t.equal(good.posts[0].type, 'application/x-www-form-urlencoded')
    const logoutToken = good.posts[0].body.get('logout_token')!
    const jwks = createRemoteJWKSet(new URL(svc.serverMetadata().jwks_uri!))
    const { payload, protectedHeader } = await jwtVerify(logoutToken, jwks, { issuer: idp.issuer, audience: 'svc' })
    t.equal(protectedHeader.typ, 'logout+jwt')
    t.same(payload.events, { 'http://schemas.openid.net/event/backchannel-logout': {} })
    t.equal(payload.sub, 'alice')
    t.equal(payload.sid, first.claims.sid)
    t.type(payload.jti, 'string')
    t.type(payload.iat, 'number')
    t.notOk('nonce' in payload)
    t.notOk(browser.cookiesFor(new URL(idp.issuer)).some((c) => c.name === `idp${idp.port}_session`), 'the provider session is gone')
    const again = await signIn(idp, svc, 'bob', browser)
    t.equal(again.claims.sub, 'bob', 'the login page again after logout')
    t.same(await idp.endSession(idp.newBrowser()), [], 'a browser with no provider session: nothing to send')
  })

  t.test("sign() uses the provider's key; signWithForeignKey() does not verify", async (t) => {
    const jwks = createRemoteJWKSet(new URL(svc.serverMetadata().jwks_uri!))
    const now = Math.floor(Date.now() / 1000)
    const claims = { iss: idp.issuer, aud: 'svc', sub: 'alice', iat: now, exp: now + 60 }
    const own = await idp.sign(claims)
    t.equal(decodeProtectedHeader(own).kid, idp.currentKid())
    t.match((await jwtVerify(own, jwks, { issuer: idp.issuer, audience: 'svc' })).payload, claims)
    const forged = await idp.signWithForeignKey(claims)
    t.equal(decodeProtectedHeader(forged).kid, idp.currentKid(), 'a forgery names the real kid')
    await t.rejects(jwtVerify(forged, jwks), { code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED' })
    const typed = await idp.sign({ ...claims, events: {} }, { typ: 'logout+jwt' })
    t.equal(decodeProtectedHeader(typed).typ, 'logout+jwt')
  })

  t.test('rotateKey: a new kid signs; the old one stays published or not', async (t) => {
    const kids = async () => ((await (await fetch(svc.serverMetadata().jwks_uri!)).json()) as { keys: Array<{ kid: string }> }).keys.map((k) => k.kid)
    const old = idp.currentKid()
    t.same(await kids(), [old])
    const browser = idp.newBrowser()
    await signIn(idp, svc, 'alice', browser)
    const kept = await idp.rotateKey()
    t.not(kept, old)
    t.same(await kids(), [kept, old])
    const fresh = await discover(idp, 'svc', 'svc-secret')
    const after = await signIn(idp, fresh, 'ignored', browser)
    t.equal(after.header.kid, kept, 'ID tokens now signed with the new key')
    t.equal(after.claims.sub, 'alice', 'the provider session survived the rebuild')
    const only = await idp.rotateKey({ keepOld: false })
    t.same(await kids(), [only])
    t.equal((await signIn(idp, await discover(idp, 'svc', 'svc-secret'), 'alice')).header.kid, only)
  })

  t.test('stop() refuses connections; start() brings it back on the same port', async (t) => {
    await idp.stop()
    await t.rejects(discover(idp, 'svc', 'svc-secret'), { cause: { code: 'ECONNREFUSED' } })
    await idp.start()
    const back = await discover(idp, 'svc', 'svc-secret')
    t.equal(back.serverMetadata().issuer, idp.issuer)
    t.equal((await signIn(idp, back, 'alice')).claims.email, 'alice@example.com')
  })

  t.test('two providers at once, one browser: separate issuers, sessions and lifetimes', async (t) => {
    const other = await startIdp({ clients: [{ client_id: 'svc', client_secret: 'other-secret', redirect_uris: [CALLBACK] }], ttlIdToken: 120 })
    t.teardown(other.close)
    other.accounts.set('alice', { sub: 'alice', email: 'alice@other.example' })
    t.not(other.issuer, idp.issuer)
    const browser = idp.newBrowser()
    const here = await signIn(idp, svc, 'alice', browser)
    const there = await signIn(other, await discover(other, 'svc', 'other-secret'), 'alice', browser)
    t.equal(here.claims.iss, idp.issuer)
    t.equal(there.claims.iss, other.issuer)
    t.equal(there.claims.email, 'alice@other.example')
    t.equal(there.claims.exp - there.claims.iat, 120)
    t.same(idp.errors, [])
    t.same(other.errors, [])
  })
})
