// A slot migration under traffic: `redis-cli --cluster reshard` moves the
// revocations' slot (their keys and their shard channel) to another master
// while three instances serve sign-ins, logouts and guarded requests, with
// the rate limits on. A client sees nothing of it: no 5xx, every logout
// refused on every instance at once, no revoked token ever accepted.
import t from 'tap'
import { eventually } from '../helpers/servers.ts'
import { deploy, login, logout, me, register, sleep, REVOCATION_SLOT_KEY } from './instances.ts'

t.test('moving the revocations\' slot to another master changes nothing a client sees', async (t) => {
  const { cluster, instances } = await deploy(t, { SESSION_SECRET: 'cluster-reshard-session-secret-0123456789ab' })
  const bases = instances.map((i) => i.base)
  const name = await register(bases[0])
  const live = await login(bases[1], name)

  const revoked: string[] = []
  const seen = { ok: 0, revokedAccepted: 0, other: [] as string[] }
  const state = { running: true }
  const traffic = (async () => {
    while (state.running) {
      for (const base of bases) {
        const status = await me(base, live)
        if (status === 200) seen.ok++
        else seen.other.push(`live token: ${status}`)
        for (const token of revoked) {
          const s = await me(base, token)
          if (s === 200) seen.revokedAccepted++
          else if (s !== 401) seen.other.push(`revoked token: ${s}`)
        }
      }
      await sleep(10)
    }
  })()
  // Sessions opened and ended on rotating instances while the migration runs
  // (at most 15: sign-ins from one address are limited to 30 a minute).
  let slowest = 0
  let logouts = 0
  const churn = async () => {
    let i = 0
    while (state.running && i < 15) {
      const token = await login(bases[i % 3], name)
      const status = await logout(bases[(i + 1) % 3], token)
      if (status !== 204) seen.other.push(`logout: ${status}`)
      const at = Date.now()
      for (const base of bases) {
        if (!await eventually(async () => await me(base, token) === 401, 2000, 5)) seen.other.push(`a logout was not refused on ${base} within 2 s`)
      }
      slowest = Math.max(slowest, Date.now() - at)
      revoked.push(token)
      logouts++
      i++
      await sleep(300)
    }
  }

  const from = await cluster.masterOf(REVOCATION_SLOT_KEY)
  const to = (await cluster.masters()).find((port) => port !== from)!
  // redis-cli moves a master's slots lowest first: enough of them to take the revocations' slot along.
  const slot = Number(await cluster.ask('CLUSTER', 'KEYSLOT', REVOCATION_SLOT_KEY))
  const ranges = await cluster.ask('CLUSTER', 'SLOTS') as Array<[number, number, [string, number]]>
  const first = Math.min(...ranges.filter((r) => Number(r[2][1]) === from && r[0] <= slot).map((r) => r[0]))
  const churning = churn()
  await sleep(500)
  await cluster.reshard(from, to, slot - first + 1)
  t.equal(await cluster.masterOf(REVOCATION_SLOT_KEY), to, `the revocations' slot ${slot} moved from ${from} to ${to}`)
  await sleep(2000)
  state.running = false
  await Promise.all([traffic, churning])

  t.ok(logouts >= 3, `${logouts} sessions ended during the migration, each refused on every instance within ${slowest} ms`)
  t.same(seen.other, [], 'no 5xx, no other answer: the migration is invisible')
  t.equal(seen.revokedAccepted, 0, 'no revoked token was accepted at any moment, on any instance')
  t.ok(seen.ok > 0)
  for (const base of bases) {
    for (const token of revoked) t.equal(await me(base, token), 401)
  }
  // After the move, a revocation still reaches everyone through the channel on its new master.
  const after = await login(bases[2], name)
  t.equal(await logout(bases[2], after), 204)
  for (const base of bases) t.ok(await eventually(async () => await me(base, after) === 401, 2000, 5), 'a logout after the migration is refused everywhere')
})
