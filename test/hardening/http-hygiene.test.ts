// Security headers for a JSON API, CORS only for configured origins, and no
// secret in any log line of a full login, refresh and logout.
import t from 'tap'
import { Writable } from 'node:stream'
import { buildApp } from '../helpers/app.ts'
import { Client, uniqueName, GOOD_PASSWORD } from '../helpers/client.ts'

t.test('security headers', async (t) => {
  const { app } = await buildApp(t, { backend: 'embedded' })
  const res = await app.inject('/health/live')
  t.equal(res.headers['x-content-type-options'], 'nosniff')
  t.match(res.headers['content-security-policy'], /default-src 'none'/)
  t.match(res.headers['content-security-policy'], /frame-ancestors 'none'/)
  t.match(res.headers['strict-transport-security'], /max-age=/)
  t.equal(res.headers['x-frame-options'], 'SAMEORIGIN')
  t.notOk(res.headers['x-powered-by'])
  t.notOk(res.headers['access-control-allow-origin'], 'no CORS without CORS_ORIGINS')
})

t.test('CORS only for configured origins, with credentials', async (t) => {
  const { app } = await buildApp(t, { backend: 'embedded', env: { CORS_ORIGINS: 'http://app.example:8080' } })
  const ok = await app.inject({ method: 'OPTIONS', url: '/auth/refresh', headers: { origin: 'http://app.example:8080', 'access-control-request-method': 'POST', 'access-control-request-headers': 'x-csrf-token,content-type' } })
  t.equal(ok.headers['access-control-allow-origin'], 'http://app.example:8080')
  t.equal(ok.headers['access-control-allow-credentials'], 'true')
  t.match(ok.headers['access-control-allow-headers'], /X-CSRF-Token/i)
  const evil = await app.inject({ method: 'OPTIONS', url: '/auth/refresh', headers: { origin: 'http://evil.example', 'access-control-request-method': 'POST' } })
  t.notOk(evil.headers['access-control-allow-origin'], 'another origin is not allowed')
  const get = await app.inject({ url: '/health/live', headers: { origin: 'http://evil.example' } })
  t.notOk(get.headers['access-control-allow-origin'])
})

t.test('no secret in any log line', async (t) => {
  const lines: string[] = []
  const stream = new Writable({ write (chunk, _enc, done) { lines.push(chunk.toString()); done() } })
  const { app } = await buildApp(t, { backend: 'embedded', logger: { level: 'trace', stream } })
  const secrets: string[] = [GOOD_PASSWORD]
  for (const mode of ['cookie', 'header'] as const) {
    const c = new Client(app, mode)
    const name = uniqueName('Log')
    await c.register(name, GOOD_PASSWORD)
    await c.login(name, GOOD_PASSWORD)
    await c.login(name, 'a wrong password for the log')
    secrets.push('a wrong password for the log', c.accessToken!, c.refreshToken ?? c.jar.get('refresh_token')!, c.jar.get('csrf_token') ?? c.refreshToken!)
    await c.me()
    await c.refresh()
    secrets.push(c.accessToken!, c.refreshToken ?? c.jar.get('refresh_token')!)
    await c.logout()
  }
  const log = lines.join('')
  t.ok(lines.length > 20, `captured ${lines.length} log lines`)
  t.match(log, /"event":"login_failed"/, 'security events are logged')
  for (const s of secrets) t.notOk(log.includes(s), `secret ${s.slice(0, 6)}… is not in the logs`)
})
