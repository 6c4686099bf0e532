// The revocation channel cannot go deaf: a Redis that stops answering without
// closing a socket (SIGSTOP) is noticed within the heartbeat window (fail
// closed, then recover by itself), and a revocation whose push failed after
// its database write still reaches the other instances within 5 s. An
// instance's own heartbeats keep it trusted only while it hears no one else.
import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { buildApp } from '../helpers/app.ts'
import { startOwnRedis, redisForSuite, eventually } from '../helpers/servers.ts'
import { signedIn } from '../helpers/client.ts'
import { SILENCE_MS, createRedisBackend } from '../../src/revocation/redis-backend.ts'
import { createRevocationList } from '../../src/revocation/mirror.ts'

const me = (app: FastifyInstance, token: string) => app.inject({ url: '/auth/me', headers: { authorization: `Bearer ${token}` } })

t.test('a frozen Redis is detected within the heartbeat window, and the service recovers when it thaws', async (t) => {
  const redis = await startOwnRedis()
  const { app } = await buildApp(t, { backend: 'real', redis })
  const { c } = await signedIn(app, 'Frozen')
  t.equal((await me(app, c.accessToken!)).statusCode, 200)

  redis.pause!()
  const frozenAt = Date.now()
  t.ok(await eventually(async () => (await me(app, c.accessToken!)).statusCode === 503, SILENCE_MS + 2000, 50), 'guarded routes fail closed')
  const detected = Date.now() - frozenAt
  t.ok(detected <= SILENCE_MS + 1500, `detected after ${detected} ms (silence window ${SILENCE_MS} ms)`)
  t.equal((await me(app, c.accessToken!)).json().code, 'SERVICE_UNAVAILABLE')
  const ready = await app.inject('/health/ready')
  t.equal(ready.statusCode, 503)
  t.match(ready.json(), { status: 'unavailable', database: 'up', downSince: { revocations: String } }, 'readiness names the dependency and since when')

  redis.resume!()
  t.ok(await eventually(async () => (await me(app, c.accessToken!)).statusCode === 200, 10_000, 100), 'it recovers by itself once Redis answers again')
  t.equal((await app.inject('/health/ready')).statusCode, 200)
})

t.test('a push lost after the database write reaches the other instance within 5 s', async (t) => {
  const redis = await startOwnRedis()
  const a = await buildApp(t, { backend: 'real', redis })
  const b = await buildApp(t, { backend: 'real', redis, databaseUrl: a.databaseUrl })
  const { c } = await signedIn(a.app, 'Lost')
  const token = c.accessToken!
  const sid = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()).sid
  t.equal((await me(b.app, token)).statusCode, 200)

  // A third instance keeps its heartbeats coming: B, which no longer hears A,
  // does not doubt its own channel (hearing no one else is the test below).
  const third = createRedisBackend(redis.url, redis.prefix)
  await third.start({ entry: () => {}, up: () => {}, down: () => {} })
  t.teardown(() => third.close())
  t.ok(await eventually(() => (b.app.revocations.backend as unknown as { peers: () => number }).peers() === 2, 3000), 'B hears A and the third')
  // A's publishing connection is gone; its subscription and B's are not.
  ;(a.app.revocations.backend as unknown as { client: { disconnect: () => void } }).client.disconnect()
  await t.rejects(a.app.sessions.endSession(sid, 'logout'), { code: 'SERVICE_UNAVAILABLE' }, 'the caller hears that the push failed')
  t.equal((await me(a.app, token)).statusCode, 401, 'the instance that revoked refuses at once')
  const started = Date.now()
  t.ok(await eventually(async () => (await me(b.app, token)).statusCode === 401, 6000, 50), 'the other instance refuses it from the database')
  t.ok(Date.now() - started <= 5500, `within ${Date.now() - started} ms`)
  t.equal((await me(b.app, token)).json().code, 'TOKEN_REVOKED')
  t.ok(b.app.revocations.trusted, 'and B never stopped trusting its channel')
})

t.test('an event-loop stall is not taken for a deaf channel', async (t) => {
  const redis = await startOwnRedis()
  const { app } = await buildApp(t, { backend: 'real', redis })
  const { c } = await signedIn(app, 'Stalled')
  const syncs = app.revocations.syncs
  const until = Date.now() + SILENCE_MS + 1000
  while (Date.now() < until) { /* this process is busy: nothing is read from any socket */ }
  await new Promise((resolve) => setTimeout(resolve, 1500))
  t.ok(app.revocations.trusted, 'the mirror still trusts its channel')
  t.equal(app.revocations.syncs, syncs, 'it never took the channel for lost (a lost channel means a full re-sync): the heartbeats were waiting in the socket')
  t.equal((await me(app, c.accessToken!)).statusCode, 200, 'and the service answers')
})

// Heartbeats as signs of life, at a fast pace (100 ms, silence after 500 ms).
// An instance hears its own publishes through whatever server it is on, so
// its own heartbeats cannot tell it that it still shares a server with the
// others: once it has heard others, only theirs count.
const fast = { heartbeatMs: 100, silenceMs: 500 }
async function instance (t: { teardown: (fn: () => unknown) => void }, redis: { url: string }, prefix: string) {
  const backend = createRedisBackend(redis.url, prefix, fast)
  const states: boolean[] = []
  const list = createRevocationList({ backend, loadDurable: async () => [], resyncDelayMs: 100, pollIntervalMs: 0, onStateChange: (trusted) => { states.push(trusted) } })
  await list.start()
  await list.waitUntilTrusted(5000)
  t.teardown(() => list.close())
  return { list, backend, states }
}
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

t.test('a lone instance on a healthy Redis stays trusted on its own heartbeats', async (t) => {
  const redis = await redisForSuite()
  const a = await instance(t, redis, `${redis.prefix}lone:`)
  await sleep(fast.silenceMs * 4)
  t.ok(a.list.trusted, 'trusted')
  t.same(a.states, [true], 'it never failed closed')
  t.equal(a.list.syncs, 1, 'and never re-synced')
})

t.test('an instance that hears only itself once others went silent fails closed, then reconnects', async (t) => {
  const redis = await redisForSuite()
  const prefix = `${redis.prefix}cut:`
  const a = await instance(t, redis, prefix)
  const b = await instance(t, redis, prefix)
  await sleep(fast.heartbeatMs * 5)
  t.equal(a.backend.peers(), 1, 'A hears B')
  // B goes on revoking where A cannot hear it (as on a new primary after a
  // failover): from A's side, B's heartbeats stop, its own still come back.
  b.backend.client.disconnect()
  t.ok(await eventually(() => !a.list.trusted, fast.silenceMs * 4), 'A fails closed: its own heartbeats do not prove it shares a server with B')
  t.throws(() => a.list.isRevoked({ sid: 's', sub: 'u' }), { code: 'SERVICE_UNAVAILABLE' })
  t.ok(await eventually(() => a.list.trusted, 5000), 'A reconnects (re-resolving its server) and, hearing no one else there, trusts its own heartbeats again')
  t.same(a.states, [true, false, true])
  t.equal(a.backend.peers(), 0)
})

t.test('an instance that stops says so: the one left stays trusted', async (t) => {
  const redis = await redisForSuite()
  const prefix = `${redis.prefix}bye:`
  const a = await instance(t, redis, prefix)
  const b = await instance(t, redis, prefix)
  t.ok(await eventually(() => a.backend.peers() === 1, 3000), 'A hears B')
  await b.list.close()
  t.ok(await eventually(() => a.backend.peers() === 0, 1000), 'A hears B leave')
  await sleep(fast.silenceMs * 3)
  t.ok(a.list.trusted, 'A is trusted')
  t.same(a.states, [true], 'it never failed closed')
})
