// The revocation channel cannot go deaf: a Redis that stops answering without
// closing a socket (SIGSTOP) is noticed within the heartbeat window (fail
// closed, then recover by itself), and a revocation whose push failed after
// its database write still reaches the other instances within 5 s.
import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { buildApp } from '../helpers/app.ts'
import { startOwnRedis, eventually } from '../helpers/servers.ts'
import { signedIn } from '../helpers/client.ts'
import { SILENCE_MS } from '../../src/services/redis-revocations.ts'

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
