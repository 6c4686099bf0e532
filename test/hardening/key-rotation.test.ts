// Managed signing keys on three instances sharing PostgreSQL and Redis, with
// times scaled down by configuration (JWKS_MAX_AGE 2 s, tokens of 4 s): a
// rotation logs no one out, every instance follows it without a restart, the
// old key leaves the key set once its tokens have expired, and an emergency
// revocation refuses the key's tokens on every instance within a second while
// their sessions refresh into the new key.
import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { buildApp } from '../helpers/app.ts'
import { postgresForSuite, startOwnRedis, eventually } from '../helpers/servers.ts'
import { Client, uniqueName, GOOD_PASSWORD } from '../helpers/client.ts'

const ADMIN = { username: 'keys-admin', password: 'the keys admin passphrase' }
const kidOf = (jwt: string) => JSON.parse(Buffer.from(jwt.split('.')[0], 'base64url').toString()).kid as string
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const jwksKids = async (app: FastifyInstance) => ((await app.inject('/.well-known/jwks.json')).json().keys as Array<{ kid: string }>).map((k) => k.kid).sort()
const me = (app: FastifyInstance, token: string) => app.inject({ url: '/auth/me', headers: { authorization: `Bearer ${token}` } })

t.test('rotation and emergency revocation across three instances', async (t) => {
  const db = await postgresForSuite()
  t.teardown(db.drop)
  const redis = await startOwnRedis()
  const env = { JWKS_MAX_AGE: '2', ACCESS_TOKEN_TTL: '4', REVOCATION_POLL_INTERVAL: '1', ADMIN_USERNAME: ADMIN.username, ADMIN_PASSWORD: ADMIN.password }
  const instances = await Promise.all([0, 1, 2].map(() => buildApp(t, { backend: 'real', databaseUrl: db.url, redis, env })))
  const [a, b, c] = instances.map((i) => i.app)
  const all = [a, b, c]
  t.equal(await a.prisma.signingKey.count(), 1, 'three instances starting at once on an empty database made one key')

  const admin = new Client(a, 'header')
  await admin.login(ADMIN.username, ADMIN.password)
  const browser = new Client(a, 'cookie')
  const phone = new Client(b, 'header')
  const name = uniqueName('Rotating')
  await browser.register(name, GOOD_PASSWORD)
  t.equal((await browser.login(name, GOOD_PASSWORD)).statusCode, 200)
  t.equal((await phone.login(name, GOOD_PASSWORD)).statusCode, 200)
  const k1 = kidOf(browser.accessToken!)
  for (const app of all) t.same(await jwksKids(app), [k1])

  const first = await a.inject('/.well-known/jwks.json')
  t.equal(first.headers['cache-control'], 'public, max-age=2', 'cacheable for JWKS_MAX_AGE')
  t.equal((await a.inject({ url: '/.well-known/jwks.json', headers: { 'if-none-match': first.headers.etag as string } })).statusCode, 304, 'and revalidated by its ETag')
  t.notMatch(first.body, /"d"|"k"|PRIVATE/, 'no private or symmetric material')

  t.test('a rotation: published at once everywhere, signing JWKS_MAX_AGE later, no one logged out', async (t) => {
    const rotated = await new Client(b, 'header').request('POST', '/admin/keys/rotate', { headers: { authorization: `Bearer ${admin.accessToken}` } })
    t.equal(rotated.statusCode, 200)
    const k2 = rotated.json().kid
    t.equal(rotated.json().state, 'next')
    for (const app of all) {
      t.ok(await eventually(async () => (await jwksKids(app)).includes(k2), 1000), 'every instance publishes the next key within a second')
    }
    t.not((await a.inject('/.well-known/jwks.json')).headers.etag, first.headers.etag, 'a new ETag')
    t.equal((await phone.refresh()).statusCode, 200)
    t.equal(kidOf(phone.accessToken!), k1, 'before JWKS_MAX_AGE has passed, the old key still signs')

    await sleep(2200)
    const oldToken = browser.accessToken!
    for (const app of all) t.equal((await me(app, oldToken)).statusCode, 200, 'a token of the old key still works everywhere')
    const refreshed = await browser.refresh()
    t.equal(refreshed.statusCode, 200, 'the cookie session refreshes: its CSRF value does not depend on the key')
    t.equal(kidOf(browser.accessToken!), k2, 'and gets a token of the new key')
    t.equal((await phone.refresh()).statusCode, 200)
    t.equal(kidOf(phone.accessToken!), k2)
    for (const app of all) {
      t.equal((await me(app, browser.accessToken!)).statusCode, 200, 'every instance verifies the new key')
      t.same(await jwksKids(app), [k1, k2].sort(), 'both keys are published during the overlap')
    }
    // The admin's token of 4 s may have lapsed on a loaded machine: a fresh one, from the new key.
    t.equal((await admin.refresh()).statusCode, 200)
    const states = (await admin.request('GET', '/admin/keys')).json()
    t.same(states.map((k: { kid: string, state: string }) => [k.kid, k.state]), [[k1, 'verifying'], [k2, 'current']])

    // The old key's last tokens expire (4 s) plus the margin (JWKS_MAX_AGE): then it leaves the set.
    await sleep(6500)
    for (const app of all) t.same(await jwksKids(app), [k2], 'the old key has left the key set')
    t.equal((await me(a, oldToken)).statusCode, 401, 'its tokens had expired anyway')
  })

  t.test('an emergency revocation: refused on every instance within a second, sessions refresh into a new key', async (t) => {
    // Fresh tokens (the last test waited past their 4 s), all signed by the current key.
    t.equal((await browser.refresh()).statusCode, 200)
    t.equal((await phone.refresh()).statusCode, 200)
    await admin.login(ADMIN.username, ADMIN.password)
    const doomed = kidOf(browser.accessToken!)
    const tokens = [browser.accessToken!, phone.accessToken!]
    for (const app of all) t.equal((await me(app, tokens[0])).statusCode, 200)
    const revoked = await new Client(c, 'header').request('POST', `/admin/keys/${doomed}/revoke`, { headers: { authorization: `Bearer ${admin.accessToken}` } })
    t.equal(revoked.statusCode, 200)
    const replacement = revoked.json().replacement.kid
    const since = Date.now()
    for (const app of all) {
      for (const token of tokens) {
        t.ok(await eventually(async () => (await me(app, token)).statusCode === 401, 1000, 5), 'refused within a second')
        t.equal((await me(app, token)).json().code, 'TOKEN_INVALID')
      }
    }
    t.ok(Date.now() - since < 1000, `all three refused it within ${Date.now() - since} ms`)
    t.equal((await browser.refresh()).statusCode, 200, 'the cookie session refreshes')
    t.equal(kidOf(browser.accessToken!), replacement, 'into the key that replaced the revoked one')
    t.equal((await phone.refresh()).statusCode, 200, 'and so does the header session')
    for (const app of all) {
      t.ok(await eventually(async () => (await me(app, phone.accessToken!)).statusCode === 200, 1000), 'the new key verifies everywhere')
      t.notOk((await jwksKids(app)).includes(doomed), 'the revoked key is not published')
    }
    // The admin's own token was signed by the revoked key too: a new login.
    await admin.login(ADMIN.username, ADMIN.password)
    const states = Object.fromEntries((await admin.request('GET', '/admin/keys')).json().map((k: { kid: string, state: string }) => [k.kid, k.state]))
    t.equal(states[doomed], 'revoked')
    t.equal(states[replacement], 'current')
  })
})

t.test('the schedule rotates by itself: a next key JWKS_MAX_AGE before KEY_ROTATION_INTERVAL', async (t) => {
  const { app } = await buildApp(t, { backend: 'real', env: { KEY_ROTATION_INTERVAL: '10', JWKS_MAX_AGE: '2', ACCESS_TOKEN_TTL: '4' } })
  const c = new Client(app, 'header')
  const name = uniqueName('Scheduled')
  await c.register(name, GOOD_PASSWORD)
  await c.login(name, GOOD_PASSWORD)
  const k1 = kidOf(c.accessToken!)
  t.ok(await eventually(async () => (await jwksKids(app)).length === 2, 12_000, 200), 'a next key is published before the interval ends')
  t.ok(await eventually(async () => { await c.refresh(); return kidOf(c.accessToken!) !== k1 }, 6000, 250), 'and signs once the interval has passed')
  t.equal((await me(app, c.accessToken!)).statusCode, 200)
})

t.test('static keys cannot be rotated through the API', async (t) => {
  const { app } = await buildApp(t, { backend: 'embedded', env: { JWT_SECRET: 'a-static-secret-for-this-test-0123456789', ADMIN_USERNAME: ADMIN.username, ADMIN_PASSWORD: ADMIN.password } })
  const admin = new Client(app, 'header')
  await admin.login(ADMIN.username, ADMIN.password)
  const res = await admin.request('POST', '/admin/keys/rotate')
  t.equal(res.statusCode, 409)
  t.equal(res.json().code, 'KEYS_NOT_MANAGED')
  t.same((await app.inject('/.well-known/jwks.json')).json(), { keys: [] }, 'an HMAC secret is never published')
})
