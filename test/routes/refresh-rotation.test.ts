// Refresh rotation under pressure: reuse inside and after the grace window,
// concurrent refreshes, CSRF, and a session ending on theft.
import t from 'tap'
import { buildApp, backends } from '../helpers/app.ts'
import { Client, uniqueName, GOOD_PASSWORD } from '../helpers/client.ts'

for (const backend of backends) {
  t.test(`${backend} backend`, async (t) => {
    const { app, config } = await buildApp(t, { backend, env: { REFRESH_REUSE_GRACE: '2' } })

    async function signedIn (mode: 'cookie' | 'header') {
      const c = new Client(app, mode)
      const name = uniqueName('Rot')
      await c.register(name, GOOD_PASSWORD)
      await c.login(name, GOOD_PASSWORD)
      return c
    }

    t.test('a retry inside the grace window gets the same live token (lost response)', async (t) => {
      const c = await signedIn('header')
      const original = c.refreshToken
      const first = await c.refresh()
      t.equal(first.statusCode, 200)
      const lost = first.json().refresh_token
      c.refreshToken = original // the response never arrived
      const retry = await c.refresh()
      t.equal(retry.statusCode, 200, 'the retry succeeds')
      t.equal(retry.json().refresh_token, lost, 'and answers with the one live head, not a second one')
      t.equal((await c.refresh()).statusCode, 200, 'the client keeps working')
      t.equal((await c.me()).statusCode, 200)
    })

    t.test('concurrent refreshes (two tabs) all succeed and converge on one token', async (t) => {
      const c = await signedIn('cookie')
      const csrf = c.jar.get('csrf_token')!
      const cookie = c.cookieHeader()!
      const results = await Promise.all(Array.from({ length: 5 }, () => app.inject({
        method: 'POST', url: '/auth/refresh', headers: { cookie, 'x-csrf-token': csrf }
      })))
      t.same(results.map((r) => r.statusCode), [200, 200, 200, 200, 200])
      const tokens = new Set(results.map((r) => r.cookies.find((x) => x.name === config.refreshCookieName)!.value))
      t.equal(tokens.size, 1, 'every racer holds the same refresh token')
      const live = await app.prisma.refreshToken.count({ where: { session: { userId: (await c.me()).json().id }, usedAt: null } })
      t.equal(live, 1, 'exactly one live head in the database')
      const next = await app.inject({ method: 'POST', url: '/auth/refresh', headers: { cookie: `${config.refreshCookieName}=${[...tokens][0]}; csrf_token=${csrf}`, 'x-csrf-token': csrf } })
      t.equal(next.statusCode, 200, 'and it keeps working afterwards')
    })

    t.test('concurrent header-mode refreshes (one statement each) converge on one token too', async (t) => {
      const c = await signedIn('header')
      const results = await Promise.all(Array.from({ length: 5 }, () => app.inject({
        method: 'POST', url: '/auth/refresh', headers: { 'x-auth-mode': 'header' }, payload: { refresh_token: c.refreshToken }
      })))
      t.same(results.map((r) => r.statusCode), [200, 200, 200, 200, 200])
      const tokens = new Set(results.map((r) => r.json().refresh_token))
      t.equal(tokens.size, 1, 'every racer holds the same refresh token')
      const live = await app.prisma.refreshToken.count({ where: { session: { userId: (await c.me()).json().id }, usedAt: null } })
      t.equal(live, 1, 'exactly one live head in the database')
    })

    t.test('an expired token, an ended or expired session and a disabled user rotate nothing, in both modes', async (t) => {
      const past = new Date(Date.now() - 1000)
      const spoilers: Array<[string, (sessionId: string, userId: string) => Promise<unknown>]> = [
        ['expired refresh token', (sessionId) => app.prisma.refreshToken.updateMany({ where: { sessionId }, data: { expiresAt: past } })],
        ['revoked session', (sessionId) => app.prisma.session.update({ where: { id: sessionId }, data: { revokedAt: past } })],
        ['expired session', (sessionId) => app.prisma.session.update({ where: { id: sessionId }, data: { expiresAt: past } })],
        ['disabled user', (_sessionId, userId) => app.prisma.user.update({ where: { id: userId }, data: { disabled: true } })]
      ]
      for (const mode of ['header', 'cookie'] as const) {
        for (const [what, spoil] of spoilers) {
          const c = await signedIn(mode)
          const me = (await c.me()).json()
          await spoil((await app.prisma.session.findFirstOrThrow({ where: { userId: me.id } })).id, me.id)
          const before = await app.prisma.refreshToken.findMany({ where: { session: { userId: me.id } }, orderBy: { createdAt: 'asc' } })
          const res = await c.refresh()
          t.equal(res.statusCode, 401, `${mode}, ${what}: 401`)
          t.equal(res.json().code, 'INVALID_REFRESH_TOKEN', `${mode}, ${what}: INVALID_REFRESH_TOKEN`)
          const after = await app.prisma.refreshToken.findMany({ where: { session: { userId: me.id } }, orderBy: { createdAt: 'asc' } })
          t.same(after, before, `${mode}, ${what}: the token is not spent and has no successor`)
        }
      }
    })

    t.test('reuse after the grace window ends the whole session', async (t) => {
      const c = await signedIn('header')
      const stolen = c.refreshToken
      t.equal((await c.refresh()).statusCode, 200)
      const liveAccess = c.accessToken
      await new Promise((resolve) => setTimeout(resolve, 2200))
      const thief = new Client(app, 'header')
      thief.refreshToken = stolen
      const res = await thief.refresh()
      t.equal(res.statusCode, 401)
      t.equal(res.json().code, 'REFRESH_TOKEN_REUSED')
      t.equal((await c.refresh()).json().code, 'INVALID_REFRESH_TOKEN', "the legitimate client's live token is dead too")
      const me = await app.inject({ method: 'GET', url: '/auth/me', headers: { authorization: `Bearer ${liveAccess}` } })
      t.equal(me.json().code, 'TOKEN_REVOKED', 'and so is every access token of the session')
    })

    t.test('cookie-mode refresh needs the CSRF header, bound to the session', async (t) => {
      const c = await signedIn('cookie')
      const cookie = c.cookieHeader()!
      const before = await app.prisma.refreshToken.count()
      for (const headers of [{ cookie }, { cookie, 'x-csrf-token': 'wrong' }, { cookie, 'x-csrf-token': '' }]) {
        const res = await app.inject({ method: 'POST', url: '/auth/refresh', headers })
        t.equal(res.statusCode, 403)
        t.equal(res.json().code, 'CSRF_INVALID')
      }
      // A csrf_token from another session, echoed consistently, still fails.
      const other = await signedIn('cookie')
      const foreign = other.jar.get('csrf_token')!
      const mixed = await app.inject({
        method: 'POST',
        url: '/auth/refresh',
        headers: { cookie: `${config.refreshCookieName}=${c.jar.get(config.refreshCookieName)}; csrf_token=${foreign}`, 'x-csrf-token': foreign }
      })
      t.equal(mixed.json().code, 'CSRF_INVALID')
      t.equal(await app.prisma.refreshToken.count(), before + 1, 'nothing changed (only the other login added a token)')
      const logout = await app.inject({ method: 'POST', url: '/auth/logout', headers: { cookie } })
      t.equal(logout.statusCode, 403, 'logout by cookie needs it too')
      t.equal((await c.me()).statusCode, 200, 'and did not end the session')
      t.equal((await c.refresh()).statusCode, 200, 'the real client still refreshes')
    })

    t.test('invalid refresh credentials', async (t) => {
      const cases: Array<[Record<string, string>, unknown, string]> = [
        [{ 'x-auth-mode': 'header' }, { refresh_token: 'A'.repeat(43) }, 'INVALID_REFRESH_TOKEN'],
        [{ 'x-auth-mode': 'header' }, { refresh_token: 'short' }, 'INVALID_REFRESH_TOKEN'],
        [{ 'x-auth-mode': 'header' }, {}, 'VALIDATION'],
        [{ 'x-auth-mode': 'header' }, { refresh_token: 42 }, 'VALIDATION'],
        [{}, undefined, 'INVALID_REFRESH_TOKEN']
      ]
      for (const [headers, payload, code] of cases) {
        const res = await app.inject({ method: 'POST', url: '/auth/refresh', headers, ...(payload !== undefined ? { payload: payload as object } : {}) })
        t.equal(res.json().code, code, JSON.stringify(payload))
      }
      // An access token is not a refresh token.
      const c = await signedIn('header')
      const res = await app.inject({ method: 'POST', url: '/auth/refresh', headers: { 'x-auth-mode': 'header' }, payload: { refresh_token: c.accessToken } })
      t.equal(res.statusCode, 401)
    })

    t.test('a refresh yields the current roles from the database', async (t) => {
      const c = await signedIn('header')
      const id = (await c.me()).json().id
      await app.prisma.userRole.create({ data: { userId: id, roleName: 'admin' } })
      t.same((await c.me()).json().roles, ['user'], 'the old token still carries the old roles')
      await c.refresh()
      t.same((await c.me()).json().roles, ['admin', 'user'])
      t.equal((await c.request('GET', '/auth/admin')).statusCode, 200)
    })
  })
}
