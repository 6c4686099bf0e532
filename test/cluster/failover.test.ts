// Three instances on a Redis Cluster (three masters, a replica each), under
// traffic. A logout on one is refused on the others at once. Then the master
// that serves the revocations' slot is killed (SIGKILL): guarded routes fail
// closed while it is gone, every instance recovers by itself within 10 s of
// its replica's promotion, and no revocation made before, during or after
// is lost.
import t from 'tap'
import { eventually } from '../helpers/servers.ts'
import { deploy, login, logout, me, register, sleep, REVOCATION_SLOT_KEY } from './instances.ts'

t.test('a master failing over inside the cluster loses no revocation, and the service recovers by itself', async (t) => {
  const { cluster, instances } = await deploy(t, { RATE_LIMIT: 'off', SESSION_SECRET: 'cluster-failover-session-secret-0123456789' })
  const bases = instances.map((i) => i.base)
  const name = await register(bases[0])
  const live = await login(bases[0], name)
  for (const base of bases) t.equal(await me(base, live), 200, 'each instance accepts the others\' tokens')

  // A logout on one instance is refused on the other two at once.
  const revoked: Array<{ token: string, when: string }> = []
  const before = await login(bases[1], name)
  const loggedOutAt = Date.now()
  t.equal(await logout(bases[1], before), 204)
  for (const base of [bases[0], bases[2]]) {
    t.ok(await eventually(async () => await me(base, before) === 401, 2000, 5), `a logout on one instance is refused on another (${Date.now() - loggedOutAt} ms)`)
  }
  revoked.push({ token: before, when: 'before' })

  // Traffic on every instance until the end: the live token and every revoked one.
  const seen = { liveOk: 0, liveUnavailable: 0, revokedAccepted: [] as string[], other: [] as number[] }
  const state = { running: true }
  const traffic = (async () => {
    while (state.running) {
      for (const base of bases) {
        const status = await me(base, live)
        if (status === 200) seen.liveOk++
        else if (status === 503) seen.liveUnavailable++
        else seen.other.push(status)
        for (const r of revoked) {
          const s = await me(base, r.token)
          if (s === 200) seen.revokedAccepted.push(`${r.when} on ${base}`)
          else if (s !== 401 && s !== 503) seen.other.push(s)
        }
      }
      await sleep(20)
    }
  })()

  const during = await login(bases[2], name)
  const master = await cluster.masterOf(REVOCATION_SLOT_KEY)
  await cluster.kill(master)
  const killedAt = Date.now()
  // While the slot has no master: recorded in PostgreSQL whatever Redis does, and the caller is told (204, or 503).
  const duringStatus = await logout(bases[2], during)
  t.ok([204, 503].includes(duringStatus), `logout while the master is gone: ${duringStatus}`)
  revoked.push({ token: during, when: 'during' })

  t.ok(await eventually(async () => { try { return await cluster.masterOf(REVOCATION_SLOT_KEY) !== master } catch { return false } }, 30_000, 50), 'the cluster promotes the replica')
  const promotedAt = Date.now()
  const recovered = await Promise.all(bases.map(async (base) => await eventually(async () => await me(base, live) === 200, 10_000, 20) ? Date.now() - promotedAt : undefined))
  t.ok(recovered.every((ms) => ms !== undefined), `every instance recovers within 10 s of the promotion, without a restart (${recovered.join(', ')} ms after it; promotion ${promotedAt - killedAt} ms after the kill)`)

  const after = await login(bases[0], name)
  t.equal(await logout(bases[0], after), 204)
  for (const base of bases) t.ok(await eventually(async () => await me(base, after) === 401, 2000, 5), 'a logout after the failover is refused everywhere')
  revoked.push({ token: after, when: 'after' })
  await sleep(1500)
  state.running = false
  await traffic

  for (const base of bases) {
    for (const r of revoked) t.equal(await me(base, r.token), 401, `a revocation made ${r.when} the failover holds on ${base}`)
    t.equal(await me(base, live), 200)
  }
  t.same(seen.revokedAccepted, [], 'no revoked token was accepted at any moment, on any instance')
  t.same(seen.other, [], 'no answer but 200, 401 and 503')
  t.ok(seen.liveUnavailable > 0, `guarded routes failed closed while the master was gone (${seen.liveUnavailable} answers 503)`)
  t.ok(seen.liveOk > 0)
})
