// Property: no token issued before a revocation is ever accepted after it.
// Three instances share PostgreSQL and Redis; fast-check draws schedules of
// logins, refreshes and user-wide revocations (logout-all, admin logout, role
// changes, disable), each started at a random instant inside the same few
// milliseconds on a random instance, all in flight at once. After each
// schedule, on every instance:
// 1. every access token whose request ended before a revocation began is refused;
// 2. every refresh token likewise, where the revocation ends sessions;
// 3. every access token still accepted carries the user's final roles and
//    version: no token outlives the state it was made from.
import t from 'tap'
import fc from 'fast-check'
import { performance } from 'node:perf_hooks'
import type { FastifyInstance } from 'fastify'
import { buildApp } from '../helpers/app.ts'
import { postgresForSuite, redisForSuite } from '../helpers/servers.ts'
import { uniqueName, GOOD_PASSWORD } from '../helpers/client.ts'

const RUNS = Number(process.env.PROPERTY_RUNS ?? 2000)
const ADMIN = { username: 'prop-admin', password: 'the property admin passphrase' }

type Op =
  | { kind: 'login', on: number, at: number }
  | { kind: 'refresh', on: number, at: number, slot: number }
  | { kind: 'logout-all' | 'admin-logout' | 'promote' | 'demote' | 'disable', on: number, at: number }

const on = fc.integer({ min: 0, max: 2 })
const at = fc.integer({ min: 0, max: 8 }) // ms after the schedule starts
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('login' as const), on, at }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('refresh' as const), on, at, slot: fc.integer({ min: 0, max: 3 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('logout-all' as const), on, at }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('admin-logout' as const), on, at }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('promote' as const), on, at }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('demote' as const), on, at }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('disable' as const), on, at }) }
)

const ENDS_SESSIONS = new Set(['logout-all', 'admin-logout', 'disable'])
const claimsOf = (jwt: string) => JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString())

t.test('no token issued before a revocation is accepted after it, over many interleavings on three instances', async (t) => {
  const db = await postgresForSuite()
  t.teardown(db.drop)
  const redis = await redisForSuite()
  const env = { JWT_SECRET: 'revocation-property-secret-0123456789abcdef', ADMIN_USERNAME: ADMIN.username, ADMIN_PASSWORD: ADMIN.password }
  const apps = (await Promise.all([0, 1, 2].map(() => buildApp(t, { backend: 'real', databaseUrl: db.url, redis, env })))).map((a) => a.app)
  const login = (app: FastifyInstance, username: string, password: string) =>
    app.inject({ method: 'POST', url: '/auth/login', headers: { 'x-auth-mode': 'header' }, payload: { username, password } })
  const adminToken = (await login(apps[0], ADMIN.username, ADMIN.password)).json().access_token as string
  const asAdmin = { authorization: `Bearer ${adminToken}` }

  let schedules = 0
  let operations = 0
  let checks = 0
  const property = fc.asyncProperty(fc.array(opArb, { minLength: 3, maxLength: 8 }), async (ops) => {
    schedules++
    operations += ops.length
    const name = uniqueName('Prop')
    const reg = await apps[0].inject({ method: 'POST', url: '/auth/register', payload: { username: name, password: GOOD_PASSWORD } })
    const userId = reg.json().id as string
    const first = await login(apps[0], name, GOOD_PASSWORD)
    const t0 = performance.now()
    const access: Array<{ token: string, end: number }> = [{ token: first.json().access_token, end: t0 }]
    const refresh: Array<{ token: string, end: number }> = [{ token: first.json().refresh_token, end: t0 }]
    const slots: string[] = [first.json().refresh_token]
    const revocations: Array<{ kind: string, start: number }> = []

    const run = async (op: Op) => {
      await new Promise((resolve) => setTimeout(resolve, op.at))
      const app = apps[op.on]
      const start = performance.now()
      let res
      switch (op.kind) {
        case 'login':
          res = await login(app, name, GOOD_PASSWORD)
          break
        case 'refresh': {
          const token = slots[op.slot % slots.length]
          res = await app.inject({ method: 'POST', url: '/auth/refresh', headers: { 'x-auth-mode': 'header' }, payload: { refresh_token: token } })
          break
        }
        case 'logout-all':
          res = await app.inject({ method: 'POST', url: '/auth/logout-all', headers: { 'x-auth-mode': 'header', authorization: `Bearer ${access[0].token}` } })
          break
        case 'admin-logout':
          res = await app.inject({ method: 'POST', url: `/admin/users/${userId}/logout`, headers: asAdmin })
          break
        case 'promote':
        case 'demote':
          res = await app.inject({ method: 'PUT', url: `/admin/users/${userId}/roles`, headers: asAdmin, payload: { roles: op.kind === 'promote' ? ['user', 'admin'] : ['user'] } })
          break
        case 'disable':
          res = await app.inject({ method: 'PATCH', url: `/admin/users/${userId}`, headers: asAdmin, payload: { disabled: true } })
          break
      }
      const end = performance.now()
      if (op.kind === 'login' || op.kind === 'refresh') {
        if (res.statusCode === 200) {
          const body = res.json()
          access.push({ token: body.access_token, end })
          refresh.push({ token: body.refresh_token, end })
          if (op.kind === 'login') slots.push(body.refresh_token)
          else slots[op.slot % slots.length] = body.refresh_token
        }
      } else if (res.statusCode < 300) {
        revocations.push({ kind: op.kind, start })
      } else if (res.statusCode !== 401 || op.kind !== 'logout-all') {
        // logout-all with an access token already revoked is refused: fine. Anything else is not.
        throw new Error(`${op.kind} answered ${res.statusCode}: ${res.body}`)
      }
    }
    await Promise.all(ops.map(run))
    // Pushed revocations reach the other instances through Redis in well under this.
    await new Promise((resolve) => setTimeout(resolve, 20))

    const user = await apps[0].prisma.user.findUniqueOrThrow({ where: { id: userId }, include: { roles: true } })
    const finalRoles = user.roles.map((r) => r.roleName).sort().join()
    for (const app of apps) {
      for (const { token, end } of access) {
        const res = await app.inject({ url: '/auth/me', headers: { authorization: `Bearer ${token}` } })
        checks++
        const before = revocations.find((r) => end < r.start)
        if (before !== undefined && res.statusCode !== 401) {
          throw new Error(`an access token issued before ${before.kind} was accepted after it (${res.statusCode}); schedule ${JSON.stringify(ops)}`)
        }
        if (res.statusCode === 200) {
          const c = claimsOf(token)
          if ([...c.roles].sort().join() !== finalRoles || c.ver !== user.tokenVersion) {
            throw new Error(`an accepted token carries roles ${c.roles} v${c.ver}, the user has ${finalRoles} v${user.tokenVersion}; schedule ${JSON.stringify(ops)}`)
          }
          if (user.disabled) throw new Error(`a disabled user's token was accepted; schedule ${JSON.stringify(ops)}`)
        } else if (res.statusCode !== 401) {
          throw new Error(`/auth/me answered ${res.statusCode}: ${res.body}`)
        }
      }
    }
    for (const { token, end } of refresh) {
      const ending = revocations.find((r) => ENDS_SESSIONS.has(r.kind) && end < r.start)
      if (ending === undefined) continue
      const res = await apps[(checks++) % 3].inject({ method: 'POST', url: '/auth/refresh', headers: { 'x-auth-mode': 'header' }, payload: { refresh_token: token } })
      if (res.statusCode !== 401) throw new Error(`a refresh token issued before ${ending.kind} still refreshed (${res.statusCode}); schedule ${JSON.stringify(ops)}`)
    }
  })
  await fc.assert(property, { numRuns: RUNS, endOnFailure: true })
  t.pass(`${schedules} schedules, ${operations} concurrent operations, ${checks} token checks on three instances`)
  t.ok(schedules >= RUNS, `ran all ${RUNS} schedules`)
})
