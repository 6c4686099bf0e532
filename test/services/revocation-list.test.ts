// The revocation mirror on both backends: the same tests for the in-process
// store and for Redis, then what only Redis has (several instances, outages).
import t from 'tap'
import { createRevocationList, createMemoryBackend, type RevocationEntry } from '../../src/services/revocation-list.ts'
import { createRedisBackend } from '../../src/services/redis-revocations.ts'
import { redisForSuite, startOwnRedis, eventually } from '../helpers/servers.ts'

const claims = (sid: string, sub = 'u1', iat = Math.floor(Date.now() / 1000)) => ({ sid, sub, iat })
const soon = () => Date.now() + 60_000

async function mirror (t: { teardown: (fn: () => unknown) => void }, kind: 'memory' | 'redis', durable: RevocationEntry[] = [], redis?: { url: string, prefix: string }) {
  const backend = kind === 'memory' ? createMemoryBackend() : createRedisBackend(redis!.url, redis!.prefix)
  const list = createRevocationList({ backend, loadDurable: async () => durable, resyncDelayMs: 100 })
  await list.start()
  await list.waitUntilTrusted(5000)
  t.teardown(() => list.close())
  return list
}

for (const kind of ['memory', 'redis'] as const) {
  t.test(`${kind} backend`, async (t) => {
    const redis = kind === 'redis' ? await redisForSuite() : undefined

    t.test('a revoked session is refused, others are not', async (t) => {
      const list = await mirror(t, kind, [], redis)
      t.ok(list.trusted)
      t.notOk(list.isRevoked(claims('s1')))
      await list.revokeSession('s1', soon())
      t.ok(list.isRevoked(claims('s1')), 'seen at once on the instance that revoked')
      t.notOk(list.isRevoked(claims('s2')))
    })

    t.test('a user cut-off refuses tokens issued before it, not after', async (t) => {
      const list = await mirror(t, kind, [], redis)
      const now = Math.floor(Date.now() / 1000)
      await list.revokeUserTokens('u9', (now + 1) * 1000, soon())
      t.ok(list.isRevoked(claims('sx', 'u9', now)))
      t.notOk(list.isRevoked(claims('sx', 'u9', now + 1)))
      t.notOk(list.isRevoked(claims('sx', 'other', now)))
    })

    t.test('entries leave memory when the tokens they cover have expired', async (t) => {
      const list = await mirror(t, kind, [], redis)
      await list.revokeSession('brief', Date.now() + 150)
      const held = list.size().sessions
      t.ok(list.isRevoked(claims('brief')))
      await new Promise((resolve) => setTimeout(resolve, 200))
      t.notOk(list.isRevoked(claims('brief')), 'an expired entry no longer counts')
      list.sweep()
      t.equal(list.size().sessions, held - 1, 'and the sweep frees it')
    })

    t.test('the durable record is loaded at start', async (t) => {
      const list = await mirror(t, kind, [{ kind: 'session', id: 'from-pg', until: soon() }], redis)
      t.ok(list.isRevoked(claims('from-pg')))
    })
  })
}

t.test('redis: several instances, outage, recovery', async (t) => {
  const redis = await startOwnRedis()
  const durable: RevocationEntry[] = []
  const a = await mirror(t, 'redis', durable, redis)
  const b = await mirror(t, 'redis', durable, redis)

  t.test('a revocation on one instance reaches the other', async (t) => {
    await a.revokeSession('shared-1', soon())
    t.ok(await eventually(() => b.isRevoked(claims('shared-1'))), 'instance b refuses it')
  })

  t.test('fails closed while Redis is down, recovers by itself, and Redis coming back empty loses nothing', async (t) => {
    await a.revokeSession('before-outage', soon())
    durable.push({ kind: 'session', id: 'before-outage', until: soon() })
    await redis.stop()
    t.ok(await eventually(() => !b.trusted), 'the mirror stops trusting itself')
    t.throws(() => b.isRevoked(claims('anything')), { code: 'SERVICE_UNAVAILABLE' }, 'and refuses to answer')
    await t.rejects(a.revokeSession('during', soon()), { code: 'SERVICE_UNAVAILABLE' })
    await redis.start() // empty: no persistence
    t.ok(await eventually(() => a.trusted && b.trusted, 10_000), 'both recover without a restart')
    t.ok(b.isRevoked(claims('before-outage')), 'a revocation made before the outage still holds')
    t.ok(b.isRevoked(claims('shared-1')), 'entries already in memory are kept')
    await b.revokeSession('after', soon())
    t.ok(await eventually(() => a.isRevoked(claims('after'))), 'and propagation works again')
  })
})
