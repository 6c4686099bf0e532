// Prometheus metrics: on their own port and never on the API's, and the
// counters move exactly as a scripted run of logins, refreshes, a reuse and
// logouts says they must. No label carries a user, a token or an address.
import t from 'tap'
import { buildApp } from '../helpers/app.ts'
import { Client, uniqueName, GOOD_PASSWORD } from '../helpers/client.ts'

type Samples = Map<string, number>

async function scrape (port: number): Promise<{ text: string, samples: Samples }> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`)
  const text = await res.text()
  const samples: Samples = new Map()
  for (const line of text.split('\n')) {
    const m = /^([a-z_]+(?:\{[^}]*\})?) (\S+)$/.exec(line)
    if (m !== null) samples.set(m[1], Number(m[2]))
  }
  return { text, samples }
}

t.test('metrics on their own listener, moving with what the service does', async (t) => {
  const { app } = await buildApp(t, { backend: 'real', env: { METRICS_PORT: '0', REFRESH_REUSE_GRACE: '1' } })
  const port = app.metrics.address()!.port
  t.equal((await app.inject('/metrics')).statusCode, 404, 'not on the API port')
  const first = await fetch(`http://127.0.0.1:${port}/metrics`)
  t.equal(first.status, 200)
  t.match(first.headers.get('content-type'), /^text\/plain/)
  t.equal((await fetch(`http://127.0.0.1:${port}/other`)).status, 404)
  const before = (await scrape(port)).samples
  const delta = (after: Samples, key: string) => (after.get(key) ?? 0) - (before.get(key) ?? 0)

  const name = uniqueName('Counted')
  const c = new Client(app, 'header')
  await c.register(name, GOOD_PASSWORD)
  t.equal((await c.login(name, GOOD_PASSWORD)).statusCode, 200)
  t.equal((await new Client(app, 'header').login(name, 'not the password')).statusCode, 401)
  const spent = c.refreshToken!
  t.equal((await c.refresh()).statusCode, 200)
  const again = new Client(app, 'header')
  again.refreshToken = spent
  t.equal((await again.refresh()).statusCode, 200, 'a spent token inside the grace window')
  await new Promise((resolve) => setTimeout(resolve, 1200))
  again.refreshToken = spent
  t.equal((await again.refresh()).json().code, 'REFRESH_TOKEN_REUSED', 'and after it')
  const bogus = new Client(app, 'header')
  bogus.refreshToken = 'x'.repeat(43)
  t.equal((await bogus.refresh()).statusCode, 401)
  const second = new Client(app, 'header')
  await second.login(name, GOOD_PASSWORD)
  t.equal((await second.logout()).statusCode, 204)
  const third = new Client(app, 'header')
  await third.login(name, GOOD_PASSWORD)
  t.equal((await third.request('POST', '/auth/logout-all', { body: {} })).statusCode, 204)
  for (let i = 0; i < 3; i++) t.equal((await second.request('GET', '/auth/me')).statusCode, 401, 'a revoked token')
  t.equal((await app.inject({ method: 'GET', url: '/no/such/route/x1' })).statusCode, 404)
  t.equal((await app.inject({ method: 'GET', url: '/no/such/route/x2' })).statusCode, 404)

  const { text, samples: after } = await scrape(port)
  t.equal(delta(after, 'auth_logins_total{method="password",result="ok"}'), 3, 'three password logins')
  t.equal(delta(after, 'auth_logins_total{method="password",result="failed"}'), 1, 'one wrong password')
  for (const method of ['mfa', 'passkey']) {
    for (const result of ['ok', 'failed']) t.equal(after.get(`auth_logins_total{method="${method}",result="${result}"}`), 0, `no ${method} login: counted apart, at 0 from the start`)
  }
  t.equal(delta(after, 'auth_refreshes_total{result="ok"}'), 1)
  t.equal(delta(after, 'auth_refreshes_total{result="grace"}'), 1)
  t.equal(delta(after, 'auth_refreshes_total{result="reuse_detected"}'), 1)
  t.equal(delta(after, 'auth_refreshes_total{result="refused"}'), 1)
  t.equal(delta(after, 'auth_revocations_total{scope="session"}'), 2, 'the reuse and the logout each ended a session')
  t.equal(delta(after, 'auth_revocations_total{scope="user"}'), 1, 'logout-all')
  t.equal(after.get('auth_revocation_mirror_trusted'), 1)
  t.ok((after.get('auth_revocation_mirror_entries{kind="session"}') ?? 0) >= 2)
  t.ok((after.get('auth_revocation_mirror_resyncs_total') ?? 0) >= 1)
  t.ok((after.get('auth_db_pool_connections{state="total"}') ?? 0) > 0, 'the database pool')
  t.ok(delta(after, 'auth_http_request_duration_seconds_count{route="/auth/login",method="POST",status_class="2xx"}') === 3, 'request durations by route template and status class')
  t.equal(delta(after, 'auth_http_request_duration_seconds_count{route="/auth/refresh",method="POST",status_class="4xx"}'), 2, 'the two refused refreshes')
  t.equal(delta(after, 'auth_http_request_duration_seconds_count{route="/auth/me",method="GET",status_class="4xx"}'), 3, 'a Bearer route')
  const meSeconds = delta(after, 'auth_http_request_duration_seconds_sum{route="/auth/me",method="GET",status_class="4xx"}')
  t.ok(meSeconds > 0 && meSeconds < 3, `its durations are measured (${meSeconds} s for three)`)
  t.equal(delta(after, 'auth_http_request_duration_seconds_count{route="unmatched",method="GET",status_class="4xx"}'), 2, 'requests that match no route, under one label')
  t.notMatch(text, /no\/such/, 'never the path of an unmatched request')
  t.match(text, /^process_cpu_seconds_total /m, 'process metrics')
  t.match(text, /^auth_password_hash_seconds\{quantile="0.99"\} /m)
  t.match(text, /^auth_password_hash_queue /m)
  t.notMatch(text, new RegExp(name), 'no user name in any label')
  t.notMatch(text, /eyJ|127\.0\.0\.1|[0-9a-f]{8}-[0-9a-f]{4}-/, 'no token, address or id either')

  // The second step and passkeys report their method; a caller that names none counts a password login.
  app.metrics.login('ok', 'mfa')
  app.metrics.login('failed', 'passkey')
  app.metrics.login('ok')
  const last = (await scrape(port)).samples
  t.equal(delta(last, 'auth_logins_total{method="mfa",result="ok"}'), 1)
  t.equal(delta(last, 'auth_logins_total{method="passkey",result="failed"}'), 1)
  t.equal(delta(last, 'auth_logins_total{method="password",result="ok"}'), 4)
})

t.test('metrics are off unless METRICS_PORT is set', async (t) => {
  const { app } = await buildApp(t, { backend: 'embedded' })
  t.equal(app.metrics.enabled, false)
  t.equal(app.metrics.address(), undefined)
  t.equal((await app.inject('/metrics')).statusCode, 404)
})
