// Sessions and administration, from a client that knows only API.md.
import t from 'tap'
import { buildApp, backends } from '../helpers/app.ts'
import { Client, uniqueName, GOOD_PASSWORD } from '../helpers/client.ts'

const ADMIN = { username: 'chief', password: 'the chief admin passphrase' }

for (const backend of backends) {
  t.test(`${backend} backend`, async (t) => {
    const { app } = await buildApp(t, { backend, env: { ADMIN_USERNAME: ADMIN.username, ADMIN_PASSWORD: ADMIN.password } })
    const admin = new Client(app, 'header')
    t.equal((await admin.login(ADMIN.username, ADMIN.password)).statusCode, 200, 'the bootstrap admin logs in')
    const adminId = (await admin.me()).json().id

    async function member (mode: 'cookie' | 'header' = 'header') {
      const c = new Client(app, mode)
      const name = uniqueName('Member')
      await c.register(name, GOOD_PASSWORD)
      await c.login(name, GOOD_PASSWORD)
      return { c, name, id: (await c.me()).json().id as string }
    }

    t.test('a user lists their sessions and ends one', async (t) => {
      const { c, name } = await member()
      const phone = new Client(app, 'header')
      await phone.request('POST', '/auth/login', { body: { username: name, password: GOOD_PASSWORD }, headers: { 'user-agent': 'PhoneApp/1.0' }, bearer: false })
      const list = await c.request('GET', '/auth/sessions')
      t.equal(list.statusCode, 200)
      const sessions = list.json()
      t.equal(sessions.length, 2)
      t.same(Object.keys(sessions[0]).sort(), ['amr', 'authTime', 'createdAt', 'current', 'dpopBound', 'id', 'ip', 'lastUsedAt', 'userAgent'])
      t.equal(sessions.filter((s: { current: boolean }) => s.current).length, 1, 'exactly one is the current one')
      const other = sessions.find((s: { userAgent: string }) => s.userAgent === 'PhoneApp/1.0')
      t.ok(other, 'the user agent is recorded')
      t.notOk(other.current)
      t.equal((await c.request('DELETE', `/auth/sessions/${other.id}`)).statusCode, 204)
      t.equal((await phone.me()).json().code, 'TOKEN_REVOKED', 'the ended session stops at once')
      t.equal((await phone.refresh()).json().code, 'INVALID_REFRESH_TOKEN')
      t.equal((await c.request('GET', '/auth/sessions')).json().length, 1)
    })

    t.test("another user's session, or a made-up one, is 404", async (t) => {
      const a = await member()
      const b = await member()
      const bSession = (await b.c.request('GET', '/auth/sessions')).json()[0].id
      for (const id of [bSession, '00000000-0000-4000-8000-000000000000', 'nope']) {
        const res = await a.c.request('DELETE', `/auth/sessions/${id}`)
        t.equal(res.statusCode, 404)
        t.equal(res.json().code, 'NOT_FOUND')
      }
      t.equal((await b.c.me()).statusCode, 200, "b's session is untouched")
    })

    t.test('admin routes refuse non-admins', async (t) => {
      const { c, id } = await member()
      for (const [method, url, body] of [['GET', '/admin/users'], ['PUT', `/admin/users/${id}/roles`, { roles: ['admin'] }], ['POST', `/admin/users/${id}/logout`], ['PATCH', `/admin/users/${id}`, { disabled: true }]] as const) {
        const res = await c.request(method, url, body !== undefined ? { body } : {})
        t.equal(res.statusCode, 403, `${method} ${url}`)
        t.equal(res.json().code, 'FORBIDDEN')
      }
      t.same((await c.me()).json().roles, ['user'])
    })

    t.test('an admin pages through users, never seeing a hash', async (t) => {
      for (let i = 0; i < 4; i++) await member()
      const seen: string[] = []
      let cursor: string | null = null
      do {
        const res = await admin.request('GET', `/admin/users?limit=2${cursor !== null ? `&cursor=${cursor}` : ''}`)
        t.equal(res.statusCode, 200)
        const page = res.json()
        t.ok(page.users.length <= 2)
        t.notMatch(res.body, /passwordHash|\$2[aby]\$/)
        seen.push(...page.users.map((u: { id: string }) => u.id))
        cursor = page.nextCursor
      } while (cursor !== null)
      t.equal(new Set(seen).size, seen.length, 'no user twice')
      t.same(seen, [...seen].sort(), 'stable order')
      t.equal(seen.length, await app.prisma.user.count(), 'every user once')
      const capped = await admin.request('GET', '/admin/users?limit=100000')
      t.equal(capped.statusCode, 200, 'a huge limit is capped, not an error')
      t.equal((await admin.request('GET', '/admin/users?cursor=!!garbage!!')).statusCode, 400)
    })

    t.test('a role change stops current tokens; a refresh carries the new roles', async (t) => {
      const { c, id } = await member()
      const res = await admin.request('PUT', `/admin/users/${id}/roles`, { body: { roles: ['user', 'admin'] } })
      t.equal(res.statusCode, 200)
      t.same(res.json().roles, ['admin', 'user'])
      t.equal((await c.me()).json().code, 'TOKEN_REVOKED', 'the old token stops at once')
      t.equal((await c.refresh()).statusCode, 200)
      t.same((await c.me()).json().roles, ['admin', 'user'])
      t.equal((await c.request('GET', '/auth/admin')).statusCode, 200)
      const bad = await admin.request('PUT', `/admin/users/${id}/roles`, { body: { roles: ['superuser'] } })
      t.equal(bad.statusCode, 400)
      t.equal((await admin.request('PUT', '/admin/users/00000000-0000-4000-8000-000000000000/roles', { body: { roles: ['user'] } })).statusCode, 404)
      // Back to user only, so later tests keep one admin.
      t.equal((await admin.request('PUT', `/admin/users/${id}/roles`, { body: { roles: ['user'] } })).statusCode, 200)
    })

    t.test('the last admin cannot lose the role or be disabled', async (t) => {
      const demote = await admin.request('PUT', `/admin/users/${adminId}/roles`, { body: { roles: ['user'] } })
      t.equal(demote.statusCode, 409)
      t.equal(demote.json().code, 'LAST_ADMIN')
      const disable = await admin.request('PATCH', `/admin/users/${adminId}`, { body: { disabled: true } })
      t.equal(disable.json().code, 'LAST_ADMIN')
      t.equal((await admin.me()).statusCode, 200, 'the admin is unharmed')
    })

    t.test('disable ends sessions and login; enable restores login', async (t) => {
      const { c, id, name } = await member()
      const res = await admin.request('PATCH', `/admin/users/${id}`, { body: { disabled: true } })
      t.equal(res.statusCode, 200)
      t.equal(res.json().disabled, true)
      t.equal((await c.me()).json().code, 'TOKEN_REVOKED')
      t.equal((await c.refresh()).json().code, 'INVALID_REFRESH_TOKEN')
      t.equal((await new Client(app, 'header').login(name, GOOD_PASSWORD)).json().code, 'INVALID_CREDENTIALS')
      await admin.request('PATCH', `/admin/users/${id}`, { body: { disabled: false } })
      t.equal((await new Client(app, 'header').login(name, GOOD_PASSWORD)).statusCode, 200)
    })

    t.test('an admin ends all sessions of a user', async (t) => {
      const { c, id } = await member()
      t.equal((await admin.request('POST', `/admin/users/${id}/logout`)).statusCode, 204)
      t.equal((await c.me()).json().code, 'TOKEN_REVOKED')
      t.equal((await c.refresh()).json().code, 'INVALID_REFRESH_TOKEN')
    })
  })
}

t.test('the OpenAPI document lists every route of API.md', async (t) => {
  const { app } = await buildApp(t, { backend: 'embedded' })
  const doc = (await app.inject('/docs/json')).json()
  t.equal(doc.openapi.startsWith('3.'), true)
  // Every row of docs/api.md's endpoint table (test/docs.test.ts checks the table against the routes).
  const rows = [
    ['post', '/auth/register'], ['post', '/auth/login'], ['post', '/auth/refresh'], ['post', '/auth/logout'],
    ['post', '/auth/logout-all'], ['get', '/auth/me'], ['get', '/auth/protected'], ['get', '/auth/admin'],
    ['get', '/auth/sessions'], ['delete', '/auth/sessions/{id}'], ['get', '/admin/users'], ['put', '/admin/users/{id}/roles'],
    ['post', '/admin/users/{id}/logout'], ['patch', '/admin/users/{id}'], ['get', '/.well-known/jwks.json'],
    ['get', '/health/live'], ['get', '/health/ready']
  ]
  for (const [method, path] of rows) {
    t.ok(doc.paths[path]?.[method], `${method.toUpperCase()} ${path} is documented`)
  }
  t.ok(doc.paths['/auth/refresh'].post.parameters.some((p: { name: string }) => p.name === 'x-csrf-token'), 'the CSRF header is documented')
  t.ok(doc.paths['/auth/login'].post.parameters.some((p: { name: string }) => p.name === 'x-auth-mode'), 'the mode header is documented')
  t.match(doc.paths['/auth/login'].post.description, /refresh_token.*HttpOnly.*csrf_token/, 'the cookies are described')
  t.match(doc.paths['/auth/refresh'].post.description, /REFRESH_TOKEN_REUSED.*CSRF_INVALID/, 'and the error codes')
  t.match(doc.paths['/auth/me'].get.description, /TOKEN_REVOKED/)
  t.equal((await app.inject('/docs/')).statusCode, 200, 'and browsable')
})
