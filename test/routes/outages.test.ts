// When Redis or PostgreSQL go away: fail closed, answer 503 quickly, recover
// without a restart, and never lose a revocation.
import t from 'tap'
import { buildApp } from '../helpers/app.ts'
import { startOwnRedis, startOwnPostgres, eventually } from '../helpers/servers.ts'
import { Client, uniqueName, GOOD_PASSWORD } from '../helpers/client.ts'

t.test('Redis outage', async (t) => {
  const redis = await startOwnRedis()
  const { app } = await buildApp(t, { backend: 'real', redis })
  const c = new Client(app, 'header')
  const name = uniqueName('Out')
  await c.register(name, GOOD_PASSWORD)
  await c.login(name, GOOD_PASSWORD)
  const ended = new Client(app, 'header')
  await ended.login(name, GOOD_PASSWORD)
  t.equal((await ended.logout()).statusCode, 204)

  await redis.stop()
  t.ok(await eventually(async () => (await app.inject('/health/ready')).statusCode === 503), 'ready answers 503')
  const ready = (await app.inject('/health/ready')).json()
  t.equal(ready.revocations === 'down' || ready.revocations === 'syncing', true)
  const started = Date.now()
  const me = await c.me()
  t.equal(me.statusCode, 503)
  t.equal(me.json().code, 'SERVICE_UNAVAILABLE', 'a token is not accepted while revocations cannot be checked')
  t.ok(Date.now() - started < 2000, 'and the answer does not hang on a reconnect queue')
  t.equal((await ended.me()).json().code, 'SERVICE_UNAVAILABLE', 'the ended session is not accepted either')

  await redis.start() // back empty
  t.ok(await eventually(async () => (await app.inject('/health/ready')).statusCode === 200), 'recovers by itself')
  t.equal((await c.me()).statusCode, 200)
  t.equal((await ended.me()).json().code, 'TOKEN_REVOKED', 'the logout made before the outage still holds')
})

t.test('PostgreSQL outage', async (t) => {
  const pg = await startOwnPostgres()
  await pg.start()
  t.teardown(() => pg.stop())
  const { app } = await buildApp(t, { backend: 'real', databaseUrl: pg.adminUrl })
  const c = new Client(app, 'header')
  const name = uniqueName('PgOut')
  await c.register(name, GOOD_PASSWORD)
  await c.login(name, GOOD_PASSWORD)

  await pg.stop()
  t.equal((await c.me()).statusCode, 200, 'verifying an access token needs no database')
  const login = await c.login(name, GOOD_PASSWORD)
  t.equal(login.statusCode, 503)
  t.equal(login.json().code, 'SERVICE_UNAVAILABLE')
  t.notMatch(login.body, /ECONNREFUSED|prisma|pg|127\.0\.0\.1/i, 'no internals in the body')
  const refresh = await c.refresh()
  t.equal(refresh.statusCode, 503)
  t.equal((await app.inject('/health/ready')).statusCode, 503)

  await pg.start()
  t.ok(await eventually(async () => (await c.refresh()).statusCode === 200), 'recovers without a restart; the refresh token was not spent by the failed attempt')
})
