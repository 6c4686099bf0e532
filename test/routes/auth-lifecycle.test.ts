// The story of a user, in each client mode, on each storage backend:
// register, log in, use the token, refresh, log out, refused.
import t from 'tap'
import { buildApp, backends } from '../helpers/app.ts'
import { Client, modes, parseSetCookies, uniqueName, GOOD_PASSWORD } from '../helpers/client.ts'

for (const backend of backends) {
  t.test(`${backend} backend`, async (t) => {
    const { app, config } = await buildApp(t, { backend })

    for (const mode of modes) {
      t.test(`${mode} mode: register, login, use, refresh, logout, refused`, async (t) => {
        const c = new Client(app, mode)
        const name = uniqueName('Story')
        const reg = await c.register(name, GOOD_PASSWORD)
        t.equal(reg.statusCode, 201)
        const user = reg.json()
        t.same(Object.keys(user).sort(), ['id', 'roles', 'username'])
        t.same(user.roles, ['user'])
        t.equal(user.username, name)

        const login = await c.login(name.toLowerCase(), GOOD_PASSWORD)
        t.equal(login.statusCode, 200, 'usernames match case-insensitively')
        t.equal(login.headers['cache-control'], 'no-store')
        const body = login.json()
        t.equal(body.token_type, 'Bearer')
        t.equal(body.expires_in, config.accessTokenTtl)
        t.same(body.user, user)
        const cookies = parseSetCookies(login)
        if (mode === 'header') {
          t.same(cookies, [], 'header mode sets no cookie')
          t.match(body.refresh_token, /^[A-Za-z0-9_-]{43}$/, '256-bit opaque refresh token')
          t.equal(body.refresh_expires_in, config.refreshTokenTtl)
        } else {
          t.notOk('refresh_token' in body, 'cookie mode never puts the refresh token in a body')
          t.notOk('refresh_expires_in' in body)
        }

        const me = await c.me()
        t.equal(me.statusCode, 200)
        t.same(me.json(), { ...user, email: null, emailVerified: false }, 'the user, and no address')
        const prot = await c.request('GET', '/auth/protected')
        t.same(prot.json(), { message: `Hello, ${name}!` })
        const admin = await c.request('GET', '/auth/admin')
        t.equal(admin.statusCode, 403)
        t.equal(admin.json().code, 'FORBIDDEN')

        const firstAccess = c.accessToken
        const firstRefresh = mode === 'header' ? c.refreshToken : c.jar.get(config.refreshCookieName)
        const refreshed = await c.refresh()
        t.equal(refreshed.statusCode, 200)
        t.equal(refreshed.headers['cache-control'], 'no-store')
        const secondRefresh = mode === 'header' ? c.refreshToken : c.jar.get(config.refreshCookieName)
        t.not(secondRefresh, firstRefresh, 'the refresh token rotates')
        t.not(c.accessToken, firstAccess)
        t.equal((await c.me()).statusCode, 200, 'the new access token works')

        const out = await c.logout()
        t.equal(out.statusCode, 204)
        if (mode === 'cookie') {
          const cleared = parseSetCookies(out)
          t.same(cleared.map((x) => [x.name, x.attrs['max-age']]).sort(), [['csrf_token', '0'], [config.refreshCookieName, '0']])
        }
        const after = await c.me()
        t.equal(after.statusCode, 401)
        t.equal(after.json().code, 'TOKEN_REVOKED', 'the access token of the ended session stops at once')
        t.match(after.headers['www-authenticate'], /^Bearer /)
        const old = await app.inject({ method: 'GET', url: '/auth/me', headers: { authorization: `Bearer ${firstAccess}` } })
        t.equal(old.json().code, 'TOKEN_REVOKED', 'so does every earlier access token of that session')

        // The refresh credential is dead too.
        const again = new Client(app, mode)
        if (mode === 'header') again.refreshToken = secondRefresh
        else again.jar.set(config.refreshCookieName, secondRefresh!).set('csrf_token', c.jar.get('csrf_token') ?? 'x')
        const dead = await again.refresh()
        t.equal(dead.statusCode, 401)
        t.equal(dead.json().code, 'INVALID_REFRESH_TOKEN')
      })
    }

    t.test('cookie attributes are exactly as API.md says', async (t) => {
      const c = new Client(app, 'cookie')
      const name = uniqueName('Cookie')
      await c.register(name, GOOD_PASSWORD)
      const res = await c.login(name, GOOD_PASSWORD)
      const byName = Object.fromEntries(parseSetCookies(res).map((x) => [x.name, x]))
      const refresh = byName[config.refreshCookieName]
      t.same(refresh.attrs, { 'max-age': String(config.refreshTokenTtl), path: '/auth', httponly: true, samesite: 'Strict' })
      t.match(refresh.value, /^[A-Za-z0-9_-]{43}$/)
      const csrf = byName.csrf_token
      t.same(csrf.attrs, { 'max-age': String(config.refreshTokenTtl), path: '/', samesite: 'Strict' }, 'readable by scripts, path /')
      t.match(csrf.value, /^[A-Za-z0-9_-]{43}$/)
    })

    t.test('cookies are Secure by default (COOKIE_SECURE unset)', async (t) => {
      const secure = await buildApp(t, { backend: 'embedded', env: { COOKIE_SECURE: '' } })
      const c = new Client(secure.app, 'cookie')
      const name = uniqueName('Secure')
      await c.register(name, GOOD_PASSWORD)
      const res = await c.login(name, GOOD_PASSWORD)
      const byName = Object.fromEntries(parseSetCookies(res).map((x) => [x.name, x.attrs]))
      t.same(byName[config.refreshCookieName], { 'max-age': String(config.refreshTokenTtl), path: '/auth', httponly: true, secure: true, samesite: 'Strict' })
      t.same(byName.csrf_token, { 'max-age': String(config.refreshTokenTtl), path: '/', secure: true, samesite: 'Strict' })
    })

    t.test('logout-all ends every session and every access token of the user', async (t) => {
      const name = uniqueName('All')
      const a = new Client(app, 'cookie')
      const b = new Client(app, 'header')
      await a.register(name, GOOD_PASSWORD)
      await a.login(name, GOOD_PASSWORD)
      await b.login(name, GOOD_PASSWORD)
      const other = new Client(app, 'header')
      const otherName = uniqueName('Other')
      await other.register(otherName, GOOD_PASSWORD)
      await other.login(otherName, GOOD_PASSWORD)

      const res = await b.request('POST', '/auth/logout-all')
      t.equal(res.statusCode, 204)
      t.equal((await a.me()).json().code, 'TOKEN_REVOKED')
      t.equal((await b.me()).json().code, 'TOKEN_REVOKED')
      t.equal((await a.refresh()).json().code, 'INVALID_REFRESH_TOKEN')
      t.equal((await b.refresh()).json().code, 'INVALID_REFRESH_TOKEN')
      t.equal((await other.me()).statusCode, 200, 'another user is untouched')

      const back = new Client(app, 'header')
      t.equal((await back.login(name, GOOD_PASSWORD)).statusCode, 200, 'logging in again right away works')
      t.equal((await back.me()).statusCode, 200, 'and its token is not caught by the cut-off')
    })

    t.test('logout never says whether a token existed', async (t) => {
      for (const payload of [{ refresh_token: 'A'.repeat(43) }, { refresh_token: 'nope' }, {}]) {
        const res = await app.inject({ method: 'POST', url: '/auth/logout', headers: { 'x-auth-mode': 'header' }, payload })
        t.equal(res.statusCode, 204)
      }
      const bare = await app.inject({ method: 'POST', url: '/auth/logout', headers: { authorization: 'Bearer garbage' } })
      t.equal(bare.statusCode, 204)
    })

    t.test('unknown modes are refused', async (t) => {
      const res = await app.inject({ method: 'POST', url: '/auth/login', headers: { 'x-auth-mode': 'magic' }, payload: { username: 'abc', password: GOOD_PASSWORD } })
      t.equal(res.statusCode, 400)
      t.equal(res.json().code, 'VALIDATION')
    })
  })
}
