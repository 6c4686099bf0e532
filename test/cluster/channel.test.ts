// The revocation backend on a Redis Cluster: every key and the shard
// channel in one slot, and the channel's rules (heartbeats, silence,
// re-sync) held on the shard that serves it.
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { startRedisCluster, eventually } from '../helpers/servers.ts'
import { createRedisBackend } from '../../src/revocation/redis-backend.ts'
import type { RevocationEntry } from '../../src/revocation/mirror.ts'

const soon = (ms = 60_000) => Date.now() + ms

t.test('on a cluster the revocations live in one slot and their channel is a shard channel of it', async (t) => {
  const cluster = await startRedisCluster()
  const target = { cluster: cluster.ports.slice(0, 3).map((port) => ({ host: '127.0.0.1', port })) }
  const prefix = `c${randomBytes(3).toString('hex')}:`
  const heard: Array<{ a: string[], up: number, down: number }> = []
  const backends = [0, 1].map(() => {
    const state = { a: [] as string[], up: 0, down: 0 }
    heard.push(state)
    const b = createRedisBackend(target, prefix, { heartbeatMs: 200, silenceMs: 1500 })
    t.teardown(() => b.close())
    return { b, started: b.start({ entry: (e: RevocationEntry) => { state.a.push(e.id) }, up: () => { state.up++ }, down: () => { state.down++ } }) }
  })
  await Promise.all(backends.map((x) => x.started))
  const [one, two] = backends.map((x) => x.b)
  t.equal(one.name, 'redis-cluster')
  t.ok(await eventually(() => one.peers() === 1 && two.peers() === 1, 10_000, 20), 'each instance hears the other\'s heartbeats on the shard channel')

  await one.publish({ kind: 'session', id: 's1', until: soon() })
  await one.publish({ kind: 'user', id: 'u1', version: 3, until: soon() })
  t.ok(await eventually(() => heard[1].a.includes('s1') && heard[1].a.includes('u1'), 2000, 5), 'a revocation is pushed to the other instance')
  t.same((await two.load()).map((e) => e.id).sort(), ['s1', 'u1'], 'and found by a full load')

  const slot = await cluster.ask('CLUSTER', 'KEYSLOT', `{${prefix}rev}:channel`)
  for (const key of [`{${prefix}rev}:session:s1`, `{${prefix}rev}:user:u1:3`]) {
    t.equal(await cluster.ask('CLUSTER', 'KEYSLOT', key), slot, `${key} is in the channel's slot`)
  }
  const owner = await cluster.masterOf(`{${prefix}rev}:channel`)
  // Redis replicates asynchronously: a master stopped before its replica copied a write loses it
  // (the service re-reads revocations from PostgreSQL for that); this test is of the failover itself.
  t.ok(await eventually(() => cluster.replicated(owner), 10_000, 20), 'the replica has the revocations')

  // The shard goes silent without closing a socket: the channel is lost (fail closed) before any failover.
  const downs = heard.map((h) => h.down)
  const ups = heard.map((h) => h.up)
  cluster.pause(owner)
  const pausedAt = Date.now()
  t.ok(await eventually(() => heard.every((h, i) => h.down > downs[i]), 5000, 20), `both instances treat the silent shard as lost (${Date.now() - pausedAt} ms)`)
  // The replica takes over; each instance finds the new master by itself and listens there.
  t.ok(await eventually(async () => { try { return await cluster.masterOf(`{${prefix}rev}:channel`) !== owner } catch { return false } }, 30_000, 50), 'the replica is promoted')
  t.ok(await eventually(() => heard.every((h, i) => h.up > ups[i]), 10_000, 20), 'both listen again on the promoted master, by themselves')
  t.ok(await eventually(() => one.peers() === 1 && two.peers() === 1, 5000, 20), 'and hear each other there')
  // The old master wakes up, learns it was replaced, and follows the new one.
  cluster.resume(owner)
  t.ok(await eventually(async () => String(await cluster.ask('CLUSTER', 'NODES')).split('\n').some((line) => line.includes(`:${owner}@`) && line.split(' ')[2].includes('slave')), 10_000, 50), 'the old master is a replica now')
  await one.publish({ kind: 'session', id: 's2', until: soon() })
  t.ok(await eventually(() => heard[1].a.includes('s2'), 3000, 5), 'a revocation after the failover is pushed')
  t.same((await two.load()).map((e) => e.id).sort(), ['s1', 's2', 'u1'], 'none lost: the replica had them')
})
