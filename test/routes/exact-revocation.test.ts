// A user-wide revocation refuses every access token issued before it,
// whatever the sub-second timing: the cases an outside review found, each
// repeated so that no lucky ordering passes them.
import t from 'tap'
import { buildApp, backends } from '../helpers/app.ts'
import { startOwnRedis, eventually } from '../helpers/servers.ts'
import { Client, uniqueName, GOOD_PASSWORD } from '../helpers/client.ts'
import type { FastifyInstance } from 'fastify'

const ADMIN = { username: 'exact-admin', password: 'the exact admin passphrase' }
const ROUNDS = 15

async function adminOf (app: FastifyInstance): Promise<Client> {
  const admin = new Client(app, 'header')
  if ((await admin.login(ADMIN.username, ADMIN.password)).statusCode !== 200) throw new Error('admin login')
  return admin
}

async function member (app: FastifyInstance): Promise<{ c: Client, id: string, name: string }> {
  const c = new Client(app, 'header')
  const name = uniqueName('Exact')
  await c.register(name, GOOD_PASSWORD)
  await c.login(name, GOOD_PASSWORD)
  return { c, name, id: (await c.me()).json().id }
}

const bearer = (app: FastifyInstance, token: string, url = '/auth/me') => app.inject({ url, headers: { authorization: `Bearer ${token}` } })

for (const backend of backends) {
  t.test(`${backend} backend`, async (t) => {
    const { app } = await buildApp(t, { backend, env: { ADMIN_USERNAME: ADMIN.username, ADMIN_PASSWORD: ADMIN.password } })
    const admin = await adminOf(app)

    t.test('grant, refresh, demote within one second: the refreshed admin token is refused', async (t) => {
      const { c, id } = await member(app)
      for (let i = 0; i < ROUNDS; i++) {
        t.equal((await admin.request('PUT', `/admin/users/${id}/roles`, { body: { roles: ['user', 'admin'] } })).statusCode, 200)
        t.equal((await c.refresh()).statusCode, 200)
        const promoted = c.accessToken!
        t.equal((await bearer(app, promoted, '/auth/admin')).statusCode, 200, 'the refresh carries the grant')
        t.equal((await admin.request('PUT', `/admin/users/${id}/roles`, { body: { roles: ['user'] } })).statusCode, 200)
        const after = await bearer(app, promoted, '/auth/admin')
        t.equal(after.statusCode, 401, `round ${i}: the demoted admin's token is refused at once`)
        t.equal(after.json().code, 'TOKEN_REVOKED')
        t.equal((await c.refresh()).json().user.roles.join(), 'user', 'a refresh carries the new roles')
        t.equal((await bearer(app, c.accessToken!, '/auth/admin')).statusCode, 403)
      }
    })

    for (const [what, revoke, refusal] of [
      ['admin logout', (id: string) => admin.request('POST', `/admin/users/${id}/logout`), 'INVALID_REFRESH_TOKEN'],
      ['disable', (id: string) => admin.request('PATCH', `/admin/users/${id}`, { body: { disabled: true } }), 'INVALID_REFRESH_TOKEN']
    ] as const) {
      t.test(`role change, refresh, then ${what} within one second: the refreshed token and the session are refused`, async (t) => {
        for (let i = 0; i < ROUNDS; i++) {
          const { c, id } = await member(app)
          t.equal((await admin.request('PUT', `/admin/users/${id}/roles`, { body: { roles: ['user'] } })).statusCode, 200)
          t.equal((await c.refresh()).statusCode, 200)
          const token = c.accessToken!
          t.equal((await revoke(id)).statusCode, what === 'disable' ? 200 : 204)
          const res = await bearer(app, token)
          t.equal(res.statusCode, 401, `round ${i}: refused`)
          t.equal(res.json().code, 'TOKEN_REVOKED')
          t.equal((await c.refresh()).json().code, refusal)
        }
      })
    }

    t.test('logout-all then an immediate login: the new session works, every old token does not', async (t) => {
      const { c, name } = await member(app)
      for (let i = 0; i < ROUNDS; i++) {
        const old = c.accessToken!
        t.equal((await c.request('POST', '/auth/logout-all', { body: {} })).statusCode, 204)
        t.equal((await bearer(app, old)).json().code, 'TOKEN_REVOKED')
        t.equal((await c.login(name, GOOD_PASSWORD)).statusCode, 200)
        t.equal((await bearer(app, c.accessToken!)).statusCode, 200, `round ${i}: a login right after is not caught by it`)
        const iat = JSON.parse(Buffer.from(c.accessToken!.split('.')[1], 'base64url').toString()).iat
        t.ok(iat <= Math.floor(Date.now() / 1000), 'and its iat is not pushed into the future')
      }
    })
  })
}

t.test('a login that read the user before a revocation and finishes after it gets the state after it', async (t) => {
  // bcrypt cost 10: ~100 ms per comparison, the window in which the admin acts.
  const { app } = await buildApp(t, { backend: 'real', env: { ADMIN_USERNAME: ADMIN.username, ADMIN_PASSWORD: ADMIN.password, BCRYPT_COST: '10' } })
  const admin = await adminOf(app)
  const { id, name } = await member(app)
  const fresh = new Client(app, 'header')

  await admin.request('PUT', `/admin/users/${id}/roles`, { body: { roles: ['user', 'admin'] } })
  const demotedMidLogin = fresh.login(name, GOOD_PASSWORD)
  await new Promise((resolve) => setTimeout(resolve, 15))
  t.equal((await admin.request('PUT', `/admin/users/${id}/roles`, { body: { roles: ['user'] } })).statusCode, 200)
  const res = await demotedMidLogin
  t.equal(res.statusCode, 200, 'the login itself stands: the password was right')
  t.same(res.json().user.roles, ['user'], 'with the roles after the demotion')
  t.equal((await bearer(app, fresh.accessToken!, '/auth/admin')).statusCode, 403)

  const disabledMidLogin = new Client(app, 'header').login(name, GOOD_PASSWORD)
  await new Promise((resolve) => setTimeout(resolve, 15))
  t.equal((await admin.request('PATCH', `/admin/users/${id}`, { body: { disabled: true } })).statusCode, 200)
  const refused = await disabledMidLogin
  t.equal(refused.statusCode, 401, 'a user disabled while their password was checked gets no session')
  t.equal(refused.json().code, 'INVALID_CREDENTIALS')
  t.equal(await app.prisma.session.count({ where: { userId: id, revokedAt: null } }), 0, 'and no live session is left behind')
})

t.test('a role change whose push fails is still whole: new roles, old tokens refused everywhere once Redis is back', async (t) => {
  const redis = await startOwnRedis()
  const env = { ADMIN_USERNAME: ADMIN.username, ADMIN_PASSWORD: ADMIN.password, JWT_SECRET: 'exact-revocation-test-secret-0123456789' }
  const a = await buildApp(t, { backend: 'real', redis, env })
  const b = await buildApp(t, { backend: 'real', redis, env, databaseUrl: a.databaseUrl })
  const admin = await adminOf(a.app)
  const { id, name } = await member(a.app)
  await admin.request('PUT', `/admin/users/${id}/roles`, { body: { roles: ['user', 'admin'] } })
  const promoted = new Client(a.app, 'header')
  await promoted.login(name, GOOD_PASSWORD)
  const token = promoted.accessToken!
  t.equal((await bearer(b.app, token, '/auth/admin')).statusCode, 200)

  // Redis goes away between the admin's (checked) request and the push: the
  // push fails after the database write.
  await redis.stop()
  await t.rejects(a.app.userAdmin.setRoles(id, ['user']), { code: 'SERVICE_UNAVAILABLE' }, 'the caller is told the change could not be spread')
  const roles = (await a.app.prisma.userRole.findMany({ where: { userId: id } })).map((r) => r.roleName).sort()
  t.same(roles, ['user'], 'yet the database holds the change')
  t.equal((await a.app.prisma.user.findUniqueOrThrow({ where: { id } })).tokenVersion, 2, 'together with the version that ends the old tokens')
  await redis.start()
  for (const inst of [a, b]) {
    t.ok(await eventually(async () => (await bearer(inst.app, token, '/auth/admin')).statusCode === 401, 10_000), 'the old admin token is refused once the instance is back')
  }
})

t.test('LAST_ADMIN holds under concurrent demotions and disables', async (t) => {
  const { app } = await buildApp(t, { backend: 'real', env: { ADMIN_USERNAME: ADMIN.username, ADMIN_PASSWORD: ADMIN.password } })
  const root = await adminOf(app)
  const rootId = (await root.me()).json().id
  const second = await member(app)
  for (let round = 0; round < 10; round++) {
    // Two admins: root and second. Each removes the other (or disables them) at once.
    t.equal((await root.request('PUT', `/admin/users/${second.id}/roles`, { body: { roles: ['user', 'admin'] } })).statusCode, 200)
    await second.c.refresh()
    const secondAdmin = second.c
    const [x, y] = await Promise.all([
      round % 2 === 0
        ? root.request('PUT', `/admin/users/${rootId}/roles`, { body: { roles: ['user'] } })
        : root.request('PATCH', `/admin/users/${rootId}`, { body: { disabled: true } }),
      secondAdmin.request('PUT', `/admin/users/${second.id}/roles`, { body: { roles: ['user'] } })
    ])
    const codes = [x.statusCode, y.statusCode].sort()
    t.same(codes, [200, 409], `round ${round}: one change wins, the other is LAST_ADMIN`)
    const admins = await app.prisma.user.count({ where: { disabled: false, roles: { some: { roleName: 'admin' } } } })
    t.equal(admins, 1, 'exactly one enabled admin remains')
    // Restore: root admin and enabled.
    await app.prisma.user.update({ where: { id: rootId }, data: { disabled: false } })
    await app.prisma.userRole.createMany({ data: [{ userId: rootId, roleName: 'admin' }], skipDuplicates: true })
    await root.login(ADMIN.username, ADMIN.password)
  }
})

t.test('ids that are not UUIDs are 404, never a database error', async (t) => {
  const { app } = await buildApp(t, { backend: 'real', env: { ADMIN_USERNAME: ADMIN.username, ADMIN_PASSWORD: ADMIN.password } })
  const admin = await adminOf(app)
  for (const id of ['-'.repeat(36), 'a'.repeat(36), '0'.repeat(36), '00000000-0000-4000-8000-00000000000g']) {
    for (const [method, url, body] of [['PUT', `/admin/users/${id}/roles`, { roles: ['user'] }], ['POST', `/admin/users/${id}/logout`, undefined], ['PATCH', `/admin/users/${id}`, { disabled: true }], ['DELETE', `/auth/sessions/${id}`, undefined]] as const) {
      const res = await admin.request(method, url, body !== undefined ? { body } : {})
      t.equal(res.statusCode, 404, `${method} ${url}`)
      t.equal(res.json().code, 'NOT_FOUND')
    }
  }
})
