// Sign-in with a provider through a browser, against a real OpenID Provider
// (oidc-provider in this process): both modes, one user per identity, and
// every way a callback can be forged, replayed or broken, each leaving no
// session behind.
import t from 'tap'
import { decodeJwt } from 'jose'
import { backends } from '../helpers/app.ts'
import { Client } from '../helpers/client.ts'
import { PersonBrowser, SPA, fragmentOf, oidcApp, pathOf, signInThrough } from '../helpers/oidc.ts'

const setsRefreshCookie = (res: { headers: Record<string, unknown> }) => String(res.headers['set-cookie'] ?? '').includes('refresh_token=')

for (const backend of backends) {
  t.test(`${backend}: cookie mode, from the button to a session`, async (t) => {
    const { app, idp } = await oidcApp(t, backend)
    idp.accounts.set('alice-1', { sub: 'alice-1', email: 'alice@corp.test', email_verified: true, preferred_username: 'alice' })

    const providers = await app.inject('/auth/oidc/providers')
    t.same(providers.json(), [{ name: 'corp', label: 'corp SSO' }])

    const browser = new PersonBrowser()
    const first = await signInThrough(app, idp, 'alice-1', { browser })
    const authorization = new URL(String(first.start.headers.location))
    t.equal(authorization.searchParams.get('code_challenge_method'), 'S256', 'PKCE S256')
    t.ok(authorization.searchParams.get('state') !== null && authorization.searchParams.get('nonce') !== null, 'state and nonce')
    t.notOk(authorization.searchParams.has('code_verifier'), 'the verifier never leaves the service')
    const binding = String(first.start.headers['set-cookie'])
    t.match(binding, /oidc_binding=[A-Za-z0-9_-]{43}; Max-Age=600; Path=\/auth\/oidc; HttpOnly; SameSite=Lax/, 'the transaction is bound to this browser')
    t.match(first.callbackUrl, /[?&]iss=/, 'the provider sends iss (RFC 9207)')

    t.equal(first.callback.statusCode, 302)
    t.match(String(first.callback.headers.location), new RegExp(`^${SPA}/signed-in#csrf_token=[A-Za-z0-9_-]+$`), 'back to return_to, only the CSRF value in the fragment')
    t.equal(first.fragment.get('csrf_token'), browser.cookies.get('csrf_token'), 'the CSRF value, as in its cookie')
    t.ok(setsRefreshCookie(first.callback), 'the session\'s cookies are set as at a login')
    t.equal(first.callback.headers['cache-control'], 'no-store')

    // The SPA, back on its page, refreshes with the cookie it now has.
    const c = new Client(app, 'cookie')
    for (const [k, v] of browser.cookies) c.jar.set(k, v)
    const refreshed = await c.refresh()
    t.equal(refreshed.statusCode, 200)
    const user = refreshed.json().user
    t.equal(user.username, 'alice')
    t.same(user.roles, ['user'])
    t.same(decodeJwt(refreshed.json().access_token).amr, ['fed'], 'amr fed')
    t.equal((await c.me()).json().username, 'alice')

    // The same identity again (a new browser, a new login at the provider): the same user.
    const again = await signInThrough(app, idp, 'alice-1')
    t.equal(again.callback.statusCode, 302)
    const c2 = new Client(app, 'cookie')
    for (const c of (again.callback.headers['set-cookie'] as string[])) { const [pair] = c.split(';'); const [k, v] = pair.split('='); c2.jar.set(k, v) }
    t.equal((await c2.refresh()).json().user.id, user.id, 'one identity, one user')
    const identities = await c.request('GET', '/auth/identities')
    t.equal(identities.json().length, 1)
    t.match(identities.json()[0], { provider: 'corp', email: 'alice@corp.test' })

    // The account has no password: a password login fails as a wrong one.
    t.equal((await new Client(app, 'header').login('alice', 'any password at all')).json().code, 'INVALID_CREDENTIALS')
  })

  t.test(`${backend}: header mode hands a one-time login_code in the fragment`, async (t) => {
    const { app, idp } = await oidcApp(t, backend)
    idp.accounts.set('bob-1', { sub: 'bob-1', email: 'bob@corp.test', email_verified: false })
    const { callback, fragment } = await signInThrough(app, idp, 'bob-1', { mode: 'header', returnTo: 'com.example.app:/oauth' })
    t.equal(callback.statusCode, 302)
    t.match(String(callback.headers.location), /^com\.example\.app:\/oauth#login_code=[A-Za-z0-9_-]{43}$/)
    t.notOk(setsRefreshCookie(callback), 'no cookie in header mode')
    const code = fragment.get('login_code')!
    const exchanged = await app.inject({ method: 'POST', url: '/auth/oidc/exchange', payload: { login_code: code } })
    t.equal(exchanged.statusCode, 200)
    t.match(exchanged.json(), { token_type: 'Bearer', user: { username: 'bob', roles: ['user'] } })
    t.type(exchanged.json().refresh_token, 'string', 'a header-mode login: the refresh token in the body')
    t.notOk(exchanged.headers['set-cookie'])
    const again = await app.inject({ method: 'POST', url: '/auth/oidc/exchange', payload: { login_code: code } })
    t.equal(again.statusCode, 400)
    t.equal(again.json().code, 'OIDC_LOGIN_CODE_INVALID', 'a login_code works once')
    const made = await app.inject({ method: 'POST', url: '/auth/oidc/exchange', payload: { login_code: 'x'.repeat(43) } })
    t.equal(made.json().code, 'OIDC_LOGIN_CODE_INVALID')
  })

  t.test(`${backend}: a refusal at the provider comes back as access_denied, with no session`, async (t) => {
    const { app, idp } = await oidcApp(t, backend)
    const { callback, fragment } = await signInThrough(app, idp, 'carol-1', { deny: true })
    t.equal(callback.statusCode, 302)
    t.equal(fragment.get('error'), 'access_denied')
    t.notOk(setsRefreshCookie(callback))
  })

  t.test(`${backend}: forged, replayed and misdirected callbacks are refused with no session`, async (t) => {
    const { app, idp } = await oidcApp(t, backend)
    idp.accounts.set('dave-1', { sub: 'dave-1', preferred_username: 'dave' })
    const sessions = async () => (await app.prisma.session.count())

    // Replayed: the same callback twice. The first signs in; the second is refused.
    const browser = new PersonBrowser()
    const ok = await signInThrough(app, idp, 'dave-1', { browser })
    t.ok(setsRefreshCookie(ok.callback))
    const before = await sessions()
    const replay = await browser.get(app, pathOf(ok.callbackUrl))
    t.equal(fragmentOf(replay).get('error'), 'OIDC_STATE_INVALID', 'a spent transaction')
    t.notOk(setsRefreshCookie(replay))

    // Tampered state: one the service never issued.
    const tampered = await signInThrough(app, idp, 'dave-1', { tamperCallback: (u) => u.searchParams.set('state', 'made-up-state') })
    t.equal(tampered.callback.statusCode, 400)
    t.equal(tampered.callback.json().code, 'OIDC_STATE_INVALID')

    // Another browser finishes what this one started (login CSRF): refused.
    const victim = new PersonBrowser()
    const attacker = new PersonBrowser()
    const started = await attacker.get(app, `/auth/oidc/corp/start?return_to=${encodeURIComponent(`${SPA}/x`)}`)
    const cb = await idp.authorize(String(started.headers.location), 'dave-1', { browser: attacker.at(idp) })
    const csrf = await victim.get(app, pathOf(cb))
    t.equal(fragmentOf(csrf).get('error'), 'OIDC_STATE_INVALID', 'the callback needs the browser that started it')
    t.notOk(setsRefreshCookie(csrf))

    // A wrong iss (a mix-up): the callback names another issuer.
    const mixup = await signInThrough(app, idp, 'dave-1', { tamperCallback: (u) => u.searchParams.set('iss', 'https://evil.example') })
    t.equal(mixup.fragment.get('error'), 'OIDC_ID_TOKEN_INVALID', 'RFC 9207 iss checked')
    t.notOk(setsRefreshCookie(mixup.callback))

    // A wrong nonce: the ID token carries a nonce this transaction did not send.
    const nonce = await signInThrough(app, idp, 'dave-1', { tamperAuthorization: (u) => u.searchParams.set('nonce', 'another-nonce') })
    t.equal(nonce.fragment.get('error'), 'OIDC_ID_TOKEN_INVALID', 'nonce checked')
    t.notOk(setsRefreshCookie(nonce.callback))

    // A code swapped in from another transaction: the PKCE verifier does not match.
    const one = new PersonBrowser()
    const a = await one.get(app, `/auth/oidc/corp/start?return_to=${encodeURIComponent(`${SPA}/x`)}`)
    const b = await one.get(app, `/auth/oidc/corp/start?return_to=${encodeURIComponent(`${SPA}/x`)}`)
    const cbA = new URL(await idp.authorize(String(a.headers.location), 'dave-1', { browser: one.at(idp) }))
    const cbB = new URL(await idp.authorize(String(b.headers.location), 'dave-1', { browser: one.at(idp) }))
    cbB.searchParams.set('code', cbA.searchParams.get('code')!)
    const swapped = await one.get(app, pathOf(cbB.href))
    t.equal(fragmentOf(swapped).get('error'), 'OIDC_ID_TOKEN_INVALID', 'a code is good only with its own verifier')

    t.equal(await sessions(), before, 'no refused callback opened a session')
  })

  t.test(`${backend}: an unknown provider, a foreign return_to`, async (t) => {
    const { app } = await oidcApp(t, backend)
    const unknown = await app.inject('/auth/oidc/nope/start')
    t.equal(unknown.statusCode, 404)
    t.equal(unknown.json().code, 'NOT_FOUND')
    for (const returnTo of ['https://evil.example/steal', 'http://spa.test.evil.example/', 'javascript:alert(1)', '//evil.example', 'http://user:pw@spa.test/', 'not a url']) {
      const res = await app.inject(`/auth/oidc/corp/start?return_to=${encodeURIComponent(returnTo)}`)
      t.equal(res.statusCode, 400, returnTo)
      t.equal(res.json().code, 'RETURN_TO_INVALID')
      t.notOk(res.headers.location)
    }
    t.equal(await app.prisma.oidcTransaction.count(), 0, 'no transaction was written')
    const unknownCallback = await app.inject('/auth/oidc/nope/callback?state=x&code=y')
    t.equal(unknownCallback.statusCode, 404)
  })

  t.test(`${backend}: the provider unreachable: a clear error, nothing half-written`, async (t) => {
    const { app, idp } = await oidcApp(t, backend)
    await idp.stop()
    const res = await app.inject(`/auth/oidc/corp/start?return_to=${encodeURIComponent(`${SPA}/x`)}`)
    t.equal(res.statusCode, 503)
    t.equal(res.json().code, 'OIDC_PROVIDER_UNAVAILABLE')
    t.equal(await app.prisma.oidcTransaction.count(), 0)
    await idp.start()
    // Down between the start and the callback: the token endpoint cannot be reached.
    idp.accounts.set('erin-1', { sub: 'erin-1' })
    const browser = new PersonBrowser()
    const started = await browser.get(app, `/auth/oidc/corp/start?return_to=${encodeURIComponent(`${SPA}/x`)}`)
    const cb = await idp.authorize(String(started.headers.location), 'erin-1', { browser: browser.at(idp) })
    await idp.stop()
    const callback = await browser.get(app, pathOf(cb))
    t.equal(callback.statusCode, 302)
    t.equal(fragmentOf(callback).get('error'), 'OIDC_PROVIDER_UNAVAILABLE')
    t.notOk(setsRefreshCookie(callback))
    t.equal(await app.prisma.user.count(), 0, 'no account was made')
    t.equal(await app.prisma.session.count(), 0)
    await idp.start()
    t.ok(setsRefreshCookie((await signInThrough(app, idp, 'erin-1')).callback), 'and it works again once the provider is back')
  })

  t.test(`${backend}: a disabled account is refused at the callback`, async (t) => {
    const { app, idp } = await oidcApp(t, backend)
    idp.accounts.set('frank-1', { sub: 'frank-1', preferred_username: 'frank' })
    await signInThrough(app, idp, 'frank-1')
    await app.prisma.user.updateMany({ where: { usernameKey: 'frank' }, data: { disabled: true } })
    const { fragment, callback } = await signInThrough(app, idp, 'frank-1')
    t.equal(fragment.get('error'), 'ACCOUNT_DISABLED')
    t.notOk(setsRefreshCookie(callback))
  })
}

t.test('real: a callback taken by another instance than the start', async (t) => {
  const first = await oidcApp(t, 'real')
  const { buildApp } = await import('../helpers/app.ts')
  const second = await buildApp(t, { backend: 'real', databaseUrl: first.databaseUrl, redis: first.redis, env: first.env })
  first.idp.accounts.set('gina-1', { sub: 'gina-1', preferred_username: 'gina' })
  const { callback } = await signInThrough(first.app, first.idp, 'gina-1', { callbackApp: second.app })
  t.match(String(callback.headers.location), `${SPA}/signed-in#csrf_token=`)
  t.ok(setsRefreshCookie(callback), 'the transaction is shared by every instance')
})

t.test('a SPA on another site (COOKIE_SAMESITE=None): a login_code exchanged in cookie mode sets the cookies', async (t) => {
  const { app, idp } = await oidcApp(t, 'embedded', { env: { COOKIE_SAMESITE: 'None', COOKIE_SECURE: 'true' } })
  idp.accounts.set('ivy-1', { sub: 'ivy-1', preferred_username: 'ivy' })
  const { callback, fragment } = await signInThrough(app, idp, 'ivy-1', { mode: 'cookie' })
  t.notOk(setsRefreshCookie(callback), 'no cookie on the navigation: it would land in the service\'s own partition')
  const code = fragment.get('login_code')
  t.ok(code, '#login_code instead')
  const exchanged = await app.inject({ method: 'POST', url: '/auth/oidc/exchange', headers: { 'x-auth-mode': 'cookie' }, payload: { login_code: code } })
  t.equal(exchanged.statusCode, 200)
  t.notOk(exchanged.json().refresh_token, 'cookie mode: no refresh token in the body')
  t.type(exchanged.json().csrf_token, 'string')
  t.match(String(exchanged.headers['set-cookie']), /refresh_token=.*SameSite=None.*Partitioned/, 'the cookies, set by the SPA\'s own call')
})

t.test('a loopback return_to listed without a port takes any port (RFC 8252 section 7.3)', async (t) => {
  const { app } = await oidcApp(t, 'embedded', { env: { OIDC_RETURN_ORIGINS: `${SPA},http://127.0.0.1` } })
  const any = await app.inject(`/auth/oidc/corp/start?mode=header&return_to=${encodeURIComponent('http://127.0.0.1:49152/cb')}`)
  t.equal(any.statusCode, 302)
  for (const other of ['http://localhost:49152/cb', 'http://127.0.0.2:49152/cb', 'https://127.0.0.1:49152/cb']) {
    t.equal((await app.inject(`/auth/oidc/corp/start?return_to=${encodeURIComponent(other)}`)).json().code, 'RETURN_TO_INVALID', other)
  }
})
