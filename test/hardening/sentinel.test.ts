// Redis through Sentinel: a primary, a replica and three Sentinels, three
// instances under traffic. The primary is killed: the instances fail closed
// during the failover, recover by themselves within 10 s of the promotion,
// and every revocation made before, during and after it holds on all three.
import t from 'tap'
import { randomBytes } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import { buildApp } from '../helpers/app.ts'
import { postgresForSuite, startSentinelSet, eventually } from '../helpers/servers.ts'
import { Client, uniqueName, GOOD_PASSWORD } from '../helpers/client.ts'

const me = (app: FastifyInstance, token: string) => app.inject({ url: '/auth/me', headers: { authorization: `Bearer ${token}` } })
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

t.test('a Sentinel failover loses no revocation, and the service recovers by itself', async (t) => {
  const set = await startSentinelSet()
  const db = await postgresForSuite()
  t.teardown(db.drop)
  const redisPrefix = `s${randomBytes(4).toString('hex')}:`
  const apps = (await Promise.all([0, 1, 2].map(() => buildApp(t, { backend: 'real', databaseUrl: db.url, env: set.env, redisPrefix })))).map((a) => a.app)
  t.equal(apps[0].revocations.backendName, 'redis-sentinel:authprimary')
  t.ok(apps.every((a) => a.revocations.trusted), 'every instance trusts its mirror through the Sentinels')

  const name = uniqueName('Failover')
  await new Client(apps[0], 'header').register(name, GOOD_PASSWORD)
  const session = async (i: number) => { const c = new Client(apps[i % 3], 'header'); await c.login(name, GOOD_PASSWORD); return c }
  const live = await session(0)
  const revoked: Array<{ token: string, when: string }> = []

  const before = await session(1)
  t.equal((await before.logout()).statusCode, 204)
  revoked.push({ token: before.accessToken!, when: 'before' })

  // Traffic on every instance for the whole test: a live token, and every revoked one.
  const seen = { liveUnavailable: 0, liveOk: 0, revokedAccepted: [] as string[], other: [] as number[] }
  const state = { running: true }
  const traffic = (async () => {
    while (state.running) {
      for (const app of apps) {
        const res = await me(app, live.accessToken!)
        if (res.statusCode === 200) seen.liveOk++
        else if (res.statusCode === 503) seen.liveUnavailable++
        else seen.other.push(res.statusCode)
        for (const r of revoked) {
          const rr = await me(app, r.token)
          if (rr.statusCode === 200) seen.revokedAccepted.push(r.when)
          else if (rr.statusCode !== 401 && rr.statusCode !== 503) seen.other.push(rr.statusCode)
        }
      }
      await sleep(20)
    }
  })()

  const during = await session(2)
  const oldPrimary = await set.currentPrimary()
  await set.killPrimary()
  // A revocation while the primary is gone: written to PostgreSQL whatever the push does.
  const duringLogout = await during.logout()
  t.ok([204, 503].includes(duringLogout.statusCode), `logout during the failover: ${duringLogout.statusCode}`)
  if (duringLogout.statusCode === 503) {
    // The caller was told; the session is ended in the database all the same.
    t.ok(await apps[0].prisma.session.findFirst({ where: { revokedAt: { not: null }, id: JSON.parse(Buffer.from(during.accessToken!.split('.')[1], 'base64url').toString()).sid } }))
  }
  revoked.push({ token: during.accessToken!, when: 'during' })

  t.ok(await eventually(async () => { try { return (await set.currentPrimary()) !== oldPrimary } catch { return false } }, 20_000, 100), 'the Sentinels promote the replica')
  const promotedAt = Date.now()
  for (const app of apps) {
    t.ok(await eventually(async () => (await me(app, live.accessToken!)).statusCode === 200, 10_000, 50), 'each instance recovers within 10 s of the promotion, without a restart')
  }
  t.ok(Date.now() - promotedAt <= 10_000, `all three recovered ${Date.now() - promotedAt} ms after the promotion`)

  const after = await session(0)
  t.equal((await after.logout()).statusCode, 204)
  revoked.push({ token: after.accessToken!, when: 'after' })
  await sleep(6000) // more than the PostgreSQL re-read interval: every path has had its chance
  state.running = false
  await traffic

  for (const app of apps) {
    for (const r of revoked) t.equal((await me(app, r.token)).statusCode, 401, `a revocation made ${r.when} the failover holds`)
    t.equal((await me(app, live.accessToken!)).statusCode, 200)
  }
  t.same(seen.revokedAccepted, [], 'no revoked token was accepted at any moment, on any instance')
  t.same(seen.other, [], 'no answer but 200, 401 and 503')
  t.ok(seen.liveUnavailable > 0, `guarded routes failed closed during the failover (${seen.liveUnavailable} answers 503)`)
  t.ok(seen.liveOk > 0)
})
