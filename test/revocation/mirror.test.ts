// The revocation mirror on both backends: the same tests for the in-process
// store and for Redis, then what only Redis has (several instances, outages).
import t from 'tap'
import { createRevocationList, createMemoryBackend, revocationHorizon, revocationUntil, MAX_ACCESS_TOKEN_TTL, type RevocationEntry } from '../../src/revocation/mirror.ts'
import { createRedisBackend } from '../../src/revocation/redis-backend.ts'
import { redisForSuite, startOwnRedis, eventually } from '../helpers/servers.ts'

const claims = (sid: string, sub = 'u1', ver = 0) => ({ sid, sub, ver })
const soon = () => Date.now() + 60_000

async function mirror (t: { teardown: (fn: () => unknown) => void }, kind: 'memory' | 'redis', durable: RevocationEntry[] = [], redis?: { url: string, prefix: string }, pollIntervalMs = 0) {
  const backend = kind === 'memory' ? createMemoryBackend() : createRedisBackend(redis!.url, redis!.prefix)
  const list = createRevocationList({ backend, loadDurable: async () => durable, resyncDelayMs: 100, pollIntervalMs })
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

    t.test("a user's minimum version refuses tokens issued under a lower one, whatever their times", async (t) => {
      const list = await mirror(t, kind, [], redis)
      await list.revokeUserBelow('u9', 3, soon())
      t.ok(list.isRevoked(claims('sx', 'u9', 2)))
      t.ok(list.isRevoked({ sid: 'sx', sub: 'u9' }), 'a token without a version counts as version 0')
      t.notOk(list.isRevoked(claims('sx', 'u9', 3)))
      t.notOk(list.isRevoked(claims('sx', 'other', 0)))
      await list.revokeUserBelow('u9', 2, soon())
      t.ok(list.isRevoked(claims('sx', 'u9', 2)), 'a lower minimum arriving late never lowers it')
    })

    t.test('a session entry does not hide the user check', async (t) => {
      const list = await mirror(t, kind, [], redis)
      await list.revokeUserBelow('u7', 5, soon())
      t.ok(list.isRevoked(claims('live', 'u7', 4)))
      await list.revokeSession('other-session', soon())
      t.ok(list.isRevoked(claims('live', 'u7', 4)))
      t.notOk(list.isRevoked(claims('live', 'u7', 5)))
    })

    t.test('entries leave memory only once the tokens they cover have expired', async (t) => {
      const list = await mirror(t, kind, [], redis)
      await list.revokeSession('brief', Date.now() + 150)
      await list.revokeUserBelow('brief-user', 1, Date.now() + 150)
      const held = list.size()
      t.ok(list.isRevoked(claims('brief')))
      list.sweep()
      t.same(list.size(), held, 'nothing is swept early')
      await new Promise((resolve) => setTimeout(resolve, 200))
      list.sweep()
      t.same(list.size(), { ...held, sessions: held.sessions - 1, users: held.users - 1 }, 'the sweep frees them after')
    })

    t.test('revocations are kept for the longest access-token lifetime any instance may use, plus clock skew', async (t) => {
      const now = Date.now()
      t.ok(revocationUntil(now) >= now + MAX_ACCESS_TOKEN_TTL * 1000 + 60_000)
      t.ok(revocationHorizon(now).getTime() <= now - MAX_ACCESS_TOKEN_TTL * 1000 - 60_000)
    })

    t.test('the durable record is loaded at start', async (t) => {
      const list = await mirror(t, kind, [{ kind: 'session', id: 'from-pg', until: soon() }, { kind: 'user', id: 'pg-user', version: 4, until: soon() }], redis)
      t.ok(list.isRevoked(claims('from-pg')))
      t.ok(list.isRevoked(claims('s', 'pg-user', 3)))
    })

    t.test('a revocation recorded in PostgreSQL but never pushed arrives by the periodic re-read', async (t) => {
      const durable: RevocationEntry[] = []
      const list = await mirror(t, kind, durable, redis, 100)
      durable.push({ kind: 'session', id: 'push-lost', until: soon() })
      t.notOk(list.isRevoked(claims('push-lost')))
      t.ok(await eventually(() => list.isRevoked(claims('push-lost')), 2000), 'refused within the re-read interval')
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
