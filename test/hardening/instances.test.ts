// Three instances sharing PostgreSQL and Redis: they start at once, migrate
// once, accept each other's tokens and see each other's logouts and reuse
// detections at once.
import t from 'tap'
import pg from 'pg'
import { generateKeyPairSync } from 'node:crypto'
import { buildApp } from '../helpers/app.ts'
import { postgresForSuite, startOwnRedis, eventually } from '../helpers/servers.ts'
import { Client, uniqueName, GOOD_PASSWORD } from '../helpers/client.ts'
import { committedMigrations } from '../helpers/migrations.ts'

t.test('three instances', async (t) => {
  const db = await postgresForSuite()
  t.teardown(db.drop)
  const redis = await startOwnRedis()
  // Instances share one signing key, as a deployment must.
  const key = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'pem', type: 'pkcs8' }).toString()
  const env = { REFRESH_REUSE_GRACE: '1', JWT_PRIVATE_KEY: key }
  const [a, b, c] = await Promise.all([1, 2, 3].map(() => buildApp(t, { backend: 'real', databaseUrl: db.url, redis, env })))
  const client = new pg.Client({ connectionString: db.url })
  await client.connect()
  const { rows } = await client.query('SELECT count(*)::int AS n FROM _prisma_migrations')
  await client.end()
  t.equal(rows[0].n, committedMigrations.length, 'started at once, migrated once')

  const onA = new Client(a.app, 'header')
  const name = uniqueName('Multi')
  await onA.register(name, GOOD_PASSWORD)
  await onA.login(name, GOOD_PASSWORD)
  const bearer = { authorization: `Bearer ${onA.accessToken}` }
  for (const other of [b, c]) {
    t.equal((await other.app.inject({ url: '/auth/me', headers: bearer })).statusCode, 200, "each instance accepts the others' tokens")
  }

  // A refresh on B, then the old token replayed on C after the grace window: theft, seen everywhere.
  const stolen = onA.refreshToken
  const onB = new Client(b.app, 'header')
  onB.refreshToken = stolen
  t.equal((await onB.refresh()).statusCode, 200)
  const fresh = onB.accessToken
  await new Promise((resolve) => setTimeout(resolve, 1100))
  const onC = new Client(c.app, 'header')
  onC.refreshToken = stolen
  t.equal((await onC.refresh()).json().code, 'REFRESH_TOKEN_REUSED')
  for (const inst of [a, b, c]) {
    t.ok(await eventually(async () => (await inst.app.inject({ url: '/auth/me', headers: { authorization: `Bearer ${fresh}` } })).statusCode === 401, 2000, 5), 'the reuse ends the session on every instance')
  }

  // Logout on C is seen on A and B at once.
  const user = new Client(a.app, 'header')
  await user.login(name, GOOD_PASSWORD)
  const token = { authorization: `Bearer ${user.accessToken}` }
  t.equal((await c.app.inject({ method: 'POST', url: '/auth/logout', headers: { 'x-auth-mode': 'header', ...token }, payload: {} })).statusCode, 204)
  for (const inst of [a, b]) {
    t.ok(await eventually(async () => (await inst.app.inject({ url: '/auth/me', headers: token })).json().code === 'TOKEN_REVOKED', 2000, 5), 'a logout on one instance is seen on the others')
  }
})
