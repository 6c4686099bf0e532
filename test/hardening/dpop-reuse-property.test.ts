// Property: binding a session to a DPoP key never lets a stolen refresh token
// escape reuse detection. Three instances share PostgreSQL and Redis (no
// grace window: a spent token shown again is reuse at once); fast-check draws
// schedules of logins (with or without a proof by the owner's key) and
// refreshes of any live slot with no proof, the owner's proof or a thief's,
// all in flight at once on random instances. Then, for every token a refresh
// spent:
// 1. shown again without a proof, it ends its session (REFRESH_TOKEN_REUSED)
//    or finds it already ended (INVALID_REFRESH_TOKEN), unless the session was
//    bound when it opened (DPOP_PROOF_INVALID: a thief holding only the token
//    can neither use it nor end the owner's session);
// 2. once it ended its session, no access token of that session is accepted
//    on any instance, whoever's key it is bound to.
import t from 'tap'
import fc from 'fast-check'
import type { FastifyInstance } from 'fastify'
import { buildApp } from '../helpers/app.ts'
import { postgresForSuite, redisForSuite } from '../helpers/servers.ts'
import { uniqueName, GOOD_PASSWORD } from '../helpers/client.ts'
import { dpopKey, type DpopKey } from '../helpers/dpop.ts'

const RUNS = Math.max(20, Math.floor(Number(process.env.PROPERTY_RUNS ?? 2000) / 10))

type Op =
  | { kind: 'login', on: number, at: number, bound: boolean }
  | { kind: 'refresh', on: number, at: number, slot: number, proof: 0 | 1 | 2 }

const on = fc.integer({ min: 0, max: 2 })
const at = fc.integer({ min: 0, max: 8 })
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('login' as const), on, at, bound: fc.boolean() }) },
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('refresh' as const), on, at, slot: fc.integer({ min: 0, max: 3 }), proof: fc.constantFrom(0 as const, 1 as const, 2 as const) }) }
)

const claimsOf = (jwt: string) => JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString())

t.test('binding to a key never escapes reuse detection, over many interleavings on three instances', async (t) => {
  const db = await postgresForSuite()
  t.teardown(db.drop)
  const redis = await redisForSuite()
  const env = { JWT_SECRET: 'dpop-reuse-property-secret-0123456789abcdef', REFRESH_REUSE_GRACE: '0' }
  const apps = (await Promise.all([0, 1, 2].map(() => buildApp(t, { backend: 'real', databaseUrl: db.url, redis, env })))).map((a) => a.app)
  const owner = await dpopKey()
  const thief = await dpopKey()
  const keyOf = (jkt: string | undefined) => jkt === owner.jkt ? owner : jkt === thief.jkt ? thief : undefined
  const withProof = async (headers: Record<string, string>, key: DpopKey | undefined, path: string) =>
    key === undefined ? headers : { ...headers, dpop: await key.proof('POST', path) }

  let schedules = 0
  let detected = 0
  let refused = 0
  const property = fc.asyncProperty(fc.array(opArb, { minLength: 4, maxLength: 10 }), async (ops) => {
    schedules++
    const name = uniqueName('Bind')
    await apps[0].inject({ method: 'POST', url: '/auth/register', payload: { username: name, password: GOOD_PASSWORD } })
    const slots: Array<{ token: string, sid: string }> = []
    const access: Array<{ token: string, sid: string }> = []
    const spent: Array<{ token: string, sid: string }> = []
    const boundAtOpen = new Set<string>()

    const login = async (app: FastifyInstance, bound: boolean) => {
      const res = await app.inject({ method: 'POST', url: '/auth/login', headers: await withProof({ 'x-auth-mode': 'header' }, bound ? owner : undefined, '/auth/login'), payload: { username: name, password: GOOD_PASSWORD } })
      if (res.statusCode !== 200) throw new Error(`login answered ${res.statusCode}: ${res.body}`)
      const body = res.json()
      const sid = claimsOf(body.access_token).sid as string
      if (bound) boundAtOpen.add(sid)
      access.push({ token: body.access_token, sid })
      slots.push({ token: body.refresh_token, sid })
    }
    // One session of each kind to start with; the schedule may open more.
    await login(apps[0], false)
    await login(apps[1], true)

    const run = async (op: Op) => {
      await new Promise((resolve) => setTimeout(resolve, op.at))
      const app = apps[op.on]
      if (op.kind === 'login') return await login(app, op.bound)
      const slot = slots[op.slot % slots.length]
      const presented = slot.token
      const key = [undefined, owner, thief][op.proof]
      const res = await app.inject({ method: 'POST', url: '/auth/refresh', headers: await withProof({ 'x-auth-mode': 'header' }, key, '/auth/refresh'), payload: { refresh_token: presented } })
      if (res.statusCode === 200) {
        const body = res.json()
        access.push({ token: body.access_token, sid: slot.sid })
        spent.push({ token: presented, sid: slot.sid })
        if (slot.token === presented) slot.token = body.refresh_token
      } else if (res.statusCode !== 401) {
        throw new Error(`refresh answered ${res.statusCode}: ${res.body}`)
      }
    }
    await Promise.all(ops.map(run))

    for (const [i, { token, sid }] of spent.entries()) {
      const session = await apps[0].prisma.session.findUniqueOrThrow({ where: { id: sid } })
      const expected = boundAtOpen.has(sid) ? 'DPOP_PROOF_INVALID' : session.revokedAt !== null ? 'INVALID_REFRESH_TOKEN' : 'REFRESH_TOKEN_REUSED'
      const res = await apps[i % 3].inject({ method: 'POST', url: '/auth/refresh', headers: { 'x-auth-mode': 'header' }, payload: { refresh_token: token } })
      const code = res.json().code
      if (code !== expected) {
        throw new Error(`a spent token of a session ${boundAtOpen.has(sid) ? 'bound when it opened' : session.dpopJkt === null ? 'never bound' : 'bound at a refresh'} answered ${res.statusCode} ${code}, expected ${expected}; schedule ${JSON.stringify(ops)}`)
      }
      if (code === 'REFRESH_TOKEN_REUSED') detected++
      if (code === 'DPOP_PROOF_INVALID') refused++
    }
    // Pushed revocations reach the other instances through Redis in well under this.
    await new Promise((resolve) => setTimeout(resolve, 20))
    for (const { token, sid } of access) {
      const session = await apps[0].prisma.session.findUniqueOrThrow({ where: { id: sid } })
      if (session.revokedAt === null) continue
      const jkt = claimsOf(token).cnf?.jkt as string | undefined
      const key = keyOf(jkt)
      for (const app of apps) {
        const headers: Record<string, string> = { authorization: `${key === undefined ? 'Bearer' : 'DPoP'} ${token}` }
        if (key !== undefined) headers.dpop = await key.proof('GET', '/auth/me', { accessToken: token })
        const res = await app.inject({ url: '/auth/me', headers })
        if (res.statusCode !== 401) throw new Error(`an access token of an ended session was accepted (${res.statusCode}); schedule ${JSON.stringify(ops)}`)
      }
    }
  })
  await fc.assert(property, { numRuns: RUNS, endOnFailure: true })
  t.pass(`${schedules} schedules: ${detected} spent tokens caught as reuse, ${refused} refused without the key`)
  t.ok(schedules >= RUNS, `ran all ${RUNS} schedules`)
  t.ok(detected > 0 && refused > 0, 'the schedules reached both rules')
})
