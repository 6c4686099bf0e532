// Stored security events: each kind recorded with who did it, from where and
// with what, exactly once; the admin's list (filters, pages); a user's own
// activity; retention. On both backends.
import t from 'tap'
import { buildApp, backends } from '../helpers/app.ts'
import { Client, uniqueName, GOOD_PASSWORD } from '../helpers/client.ts'

const ADMIN = { username: 'chief', password: 'the chief admin passphrase' }
const UA = 'EventsTest/1.0 (phone)'
const ADMIN_UA = 'AdminConsole/1.0'
interface Ev { id: string, type: string, at: string, userId: string | null, actorId: string | null, ip: string | null, userAgent: string | null, details: Record<string, unknown> }

for (const backend of backends) {
  t.test(`${backend} backend`, async (t) => {
    const { app } = await buildApp(t, { backend, env: { ADMIN_USERNAME: ADMIN.username, ADMIN_PASSWORD: ADMIN.password } })
    const admin = new Client(app, 'header')
    await admin.request('POST', '/auth/login', { body: ADMIN, headers: { 'user-agent': ADMIN_UA }, bearer: false })
    const adminId = (await admin.me()).json().id as string
    const asAdmin = (method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', url: string, body?: unknown) =>
      admin.request(method, url, { ...(body !== undefined ? { body } : {}), headers: { 'user-agent': ADMIN_UA } })

    async function member (mode: 'cookie' | 'header' = 'header') {
      const c = new Client(app, mode)
      const name = uniqueName('ev')
      await c.request('POST', '/auth/register', { body: { username: name, password: GOOD_PASSWORD }, headers: { 'user-agent': UA }, bearer: false })
      await c.request('POST', '/auth/login', { body: { username: name, password: GOOD_PASSWORD }, headers: { 'user-agent': UA }, bearer: false })
      return { c, name, id: (await c.me()).json().id as string }
    }
    async function eventsOf (userId: string): Promise<Ev[]> {
      const res = await asAdmin('GET', `/admin/events?user=${userId}&limit=100`)
      t.equal(res.statusCode, 200)
      return res.json().events
    }
    const one = (list: Ev[], type: string) => {
      const found = list.filter((e) => e.type === type)
      t.equal(found.length, 1, `exactly one ${type}`)
      return found[0]
    }

    t.test("a user's own actions: recorded with the user as actor, the address and the agent", async (t) => {
      const { c, name, id } = await member()
      await c.request('POST', '/auth/login', { body: { username: name, password: 'not the password at all' }, headers: { 'user-agent': UA }, bearer: false })
      await c.request('POST', '/auth/password', { body: { current_password: GOOD_PASSWORD, new_password: 'a brand new passphrase' }, headers: { 'user-agent': UA } })
      await c.request('POST', '/auth/logout', { body: { refresh_token: c.refreshToken }, headers: { 'user-agent': UA } })
      const list = await eventsOf(id)
      t.same(list.map((e) => e.type), ['logout', 'password_changed', 'login_failed', 'login', 'user_registered'], 'newest first, each once')
      for (const e of list) {
        t.equal(e.ip, '127.0.0.1', `${e.type}: the address`)
        t.equal(e.userAgent, UA, `${e.type}: the agent`)
        t.equal(e.userId, id, `${e.type}: the user`)
        t.match(e.at, /^\d{4}-\d\d-\d\dT/)
        t.match(e.id, /^\d+$/)
      }
      t.equal(one(list, 'login').actorId, id, 'a login is the user\'s own')
      t.equal(one(list, 'password_changed').actorId, id)
      t.equal(one(list, 'login_failed').actorId, null, 'a failed login proves no one')
      t.same(one(list, 'login_failed').details, { username: name }, 'a failed login names the account it tried')
      t.match(one(list, 'password_changed').details, { endedSessions: 0 })
      t.notMatch(JSON.stringify(list), /brand new passphrase|not the password|correct horse/, 'no password anywhere')
    })

    t.test('a failed login for an unknown name carries no user', async (t) => {
      const ghost = uniqueName('ghost')
      await new Client(app, 'header').login(ghost, GOOD_PASSWORD)
      const res = await asAdmin('GET', '/admin/events?type=login_failed&limit=100')
      const mine = (res.json().events as Ev[]).filter((e) => e.details.username === ghost)
      t.equal(mine.length, 1)
      t.equal(mine[0].userId, null)
    })

    t.test("an admin's actions: the admin as actor, the user as subject, in the change's transaction", async (t) => {
      const { id } = await member()
      const other = await member()
      t.equal((await asAdmin('PUT', `/admin/users/${id}/roles`, { roles: ['admin', 'user'] })).statusCode, 200)
      t.equal((await asAdmin('PATCH', `/admin/users/${id}`, { disabled: true })).statusCode, 200)
      t.equal((await asAdmin('PATCH', `/admin/users/${id}`, { disabled: false })).statusCode, 200)
      const reset = await asAdmin('POST', `/admin/users/${id}/password-reset`)
      t.equal(reset.statusCode, 200)
      const token = reset.json().reset_token as string
      t.equal((await new Client(app, 'header').request('POST', '/auth/password/reset', { body: { reset_token: token, new_password: 'the reset passphrase' }, headers: { 'user-agent': UA }, bearer: false })).statusCode, 204)
      t.equal((await asAdmin('POST', `/admin/users/${id}/logout`)).statusCode, 204)
      t.equal((await asAdmin('DELETE', `/admin/users/${id}/mfa`)).statusCode, 204)
      const sessions = (await asAdmin('GET', `/admin/users/${other.id}/sessions`)).json()
      t.equal(sessions.length, 1, "the admin sees the other user's session")
      t.equal((await asAdmin('DELETE', `/admin/users/${other.id}/sessions/${sessions[0].id}`)).statusCode, 204)
      t.equal((await other.c.me()).json().code, 'TOKEN_REVOKED', 'the ended session stops at once')

      const list = await eventsOf(id)
      for (const type of ['roles_changed', 'user_disabled', 'user_enabled', 'password_reset_issued', 'user_logged_out', 'mfa_reset']) {
        const e = one(list, type)
        t.equal(e.actorId, adminId, `${type}: by the admin`)
        t.equal(e.userAgent, ADMIN_UA, `${type}: the admin's agent`)
        t.equal(e.ip, '127.0.0.1')
      }
      t.same(one(list, 'roles_changed').details, { roles: ['admin', 'user'] })
      const used = one(list, 'password_reset')
      t.equal(used.actorId, id, 'the reset token is used by the user')
      t.notMatch(JSON.stringify(list), new RegExp(token), 'the reset token is never stored')
      const revoked = one(await eventsOf(other.id), 'session_revoked')
      t.equal(revoked.actorId, adminId)
      t.equal(revoked.details.sessionId, sessions[0].id)
      t.equal((await asAdmin('PUT', `/admin/users/${id}/roles`, { roles: ['user'] })).statusCode, 200, 'the chief is the only admin again')
    })

    t.test('the operator CLI\'s changes (no request) are recorded by the change itself, with no actor', async (t) => {
      const { id } = await member()
      await app.userAdmin.setRoles(id, ['user'])
      await app.userAdmin.endSessions(id)
      const list = await eventsOf(id)
      for (const type of ['roles_changed', 'user_logged_out']) {
        const e = one(list, type)
        t.equal(e.actorId, null, `${type}: no one signed in made it`)
        t.equal(e.ip, null)
      }
    })

    t.test('a role change that fails leaves no event', async (t) => {
      const res = await asAdmin('PUT', `/admin/users/${adminId}/roles`, { roles: ['user'] })
      t.equal(res.json().code, 'LAST_ADMIN')
      t.equal((await eventsOf(adminId)).filter((e) => e.type === 'roles_changed').length, 0)
    })

    t.test('admin creates a user, rotates a key: recorded', async (t) => {
      const name = uniqueName('made')
      const made = await asAdmin('POST', '/admin/users', { username: name, password: GOOD_PASSWORD, roles: ['user'] })
      t.equal(made.statusCode, 201)
      t.same(one(await eventsOf(made.json().id), 'user_created').actorId, adminId)
      const key = await asAdmin('POST', '/admin/keys/rotate')
      t.equal(key.statusCode, 200)
      const rotated = (await asAdmin('GET', '/admin/events?type=signing_key_rotated')).json().events as Ev[]
      t.equal(rotated.length, 1, 'stored once, in the rotation\'s own transaction')
      t.equal(rotated[0].actorId, adminId)
      t.equal(rotated[0].userId, null)
      t.same(rotated[0].details, { kid: key.json().kid })
    })

    t.test('refresh-token reuse: the session\'s user, no actor', async (t) => {
      const { c, id } = await member()
      const spent = c.refreshToken
      await c.refresh()
      const again = new Client(app, 'header')
      again.refreshToken = spent
      const res = await again.request('POST', '/auth/refresh', { body: { refresh_token: spent }, bearer: false })
      // Within the grace window the live token is answered; outside it the session ends. Either way nothing leaks.
      if (res.statusCode === 401) {
        const e = one(await eventsOf(id), 'refresh_token_reused')
        t.equal(e.actorId, null)
      } else t.equal(res.statusCode, 200, 'inside the grace window')
    })

    t.test('a user sees only their own activity', async (t) => {
      const a = await member()
      const b = await member()
      await b.c.login(b.name, 'wrong password here')
      const res = await a.c.request('GET', '/auth/events')
      t.equal(res.statusCode, 200)
      const list = res.json() as Ev[]
      t.same(list.map((e) => e.type), ['login', 'user_registered'])
      t.ok(list.every((e) => e.userId === a.id))
      t.equal((await new Client(app, 'header').request('GET', '/auth/events')).json().code, 'TOKEN_MISSING')
    })

    t.test('a non-admin is refused', async (t) => {
      const { c } = await member()
      for (const url of ['/admin/events', '/admin/users/search?q=a', `/admin/users/${adminId}/sessions`]) {
        const res = await c.request('GET', url)
        t.equal(res.statusCode, 403, url)
        t.equal(res.json().code, 'FORBIDDEN')
      }
      t.equal((await new Client(app, 'header').request('GET', '/admin/events')).statusCode, 401)
    })

    t.test('filters and pages: newest first, no row skipped or repeated while events are added', async (t) => {
      const { c, name, id } = await member()
      for (let i = 0; i < 5; i++) await c.login(name, `wrong password ${i}`)
      const seen: string[] = []
      let cursor: string | null = null
      let pages = 0
      do {
        const res = await asAdmin('GET', `/admin/events?user=${id}&limit=2${cursor !== null ? `&cursor=${cursor}` : ''}`)
        t.equal(res.statusCode, 200)
        const body = res.json() as { events: Ev[], nextCursor: string | null }
        seen.push(...body.events.map((e) => e.id))
        cursor = body.nextCursor
        // New events arrive between pages: they are newer, so they never shift the pages still to come.
        if (pages++ === 0) await c.login(name, 'another wrong one')
      } while (cursor !== null)
      t.equal(seen.length, 7, 'registered, logged in, five failures')
      t.equal(new Set(seen).size, 7, 'no repeats')
      t.same([...seen].sort((x, y) => Number(BigInt(y) - BigInt(x))), seen, 'newest first')

      const failures = (await asAdmin('GET', `/admin/events?user=${id}&type=login_failed&limit=100`)).json().events as Ev[]
      t.equal(failures.length, 6)
      const middle = failures[3].at
      const since = (await asAdmin('GET', `/admin/events?user=${id}&since=${encodeURIComponent(middle)}`)).json().events as Ev[]
      t.ok(since.every((e) => e.at >= middle) && since.length >= 4)
      const until = (await asAdmin('GET', `/admin/events?user=${id}&until=${encodeURIComponent(middle)}`)).json().events as Ev[]
      t.ok(until.every((e) => e.at < middle))
      t.equal(since.length + until.length, 8)
    })

    t.test('bad filters: 400 VALIDATION', async (t) => {
      for (const q of ['type=Login!', 'user=nope', 'since=yesterday', 'until=2026-13-45T99:00:00Z', 'cursor=zzz', 'limit=0', 'limit=abc']) {
        const res = await asAdmin('GET', `/admin/events?${q}`)
        t.equal(res.statusCode, 400, q)
        t.equal(res.json().code, 'VALIDATION', q)
      }
    })

    t.test('retention: events older than EVENT_RETENTION_DAYS are pruned', async (t) => {
      const { id } = await member()
      const day = 86_400_000
      await app.prisma.securityEvent.createMany({
        data: [
          { type: 'login', userId: id, at: new Date(Date.now() - 91 * day) },
          { type: 'login', userId: id, at: new Date(Date.now() - 89 * day) }
        ]
      })
      t.equal((await eventsOf(id)).length, 4)
      t.equal(await app.events.prune(), 1, 'one past 90 days')
      const left = await eventsOf(id)
      t.equal(left.length, 3)
      t.ok(left.every((e) => Date.now() - Date.parse(e.at) < 90 * day))
    })
  })
}

t.test('EVENT_RETENTION_DAYS sets the horizon', async (t) => {
  const { app } = await buildApp(t, { backend: 'embedded', env: { EVENT_RETENTION_DAYS: '7' } })
  const day = 86_400_000
  await app.prisma.securityEvent.createMany({ data: [{ type: 'login', at: new Date(Date.now() - 8 * day) }, { type: 'login', at: new Date(Date.now() - 6 * day) }] })
  t.equal(await app.events.prune(), 1)
  t.equal(await app.prisma.securityEvent.count(), 1)
})
