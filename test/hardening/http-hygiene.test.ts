// Security headers for a JSON API, CORS only for configured origins, and no
// secret in any log line of a full login, refresh and logout.
import t from 'tap'
import { Writable } from 'node:stream'
import { connect } from 'node:net'
import { buildApp } from '../helpers/app.ts'
import { Client, uniqueName, GOOD_PASSWORD } from '../helpers/client.ts'

// The exact header set per kind of route: the OWASP REST Security Cheat
// Sheet's baseline on every JSON answer, no-store where tokens or personal
// data travel, the browser-page headers only on the pages (/docs).
const BASE = ['connection', 'content-length', 'content-security-policy', 'content-type', 'date', 'keep-alive', 'strict-transport-security', 'x-content-type-options']
const PAGE_ONLY = ['cross-origin-opener-policy', 'cross-origin-resource-policy', 'origin-agent-cluster', 'referrer-policy', 'x-dns-prefetch-control', 'x-download-options', 'x-frame-options', 'x-permitted-cross-domain-policies', 'x-xss-protection']

t.test('the exact header set per route kind', async (t) => {
  const { app } = await buildApp(t, { backend: 'embedded' })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`
  // Over real HTTP: the headers a client sees, Node's own included.
  const names = async (path: string, init: RequestInit = {}) => {
    const res = await fetch(base + path, init)
    await res.arrayBuffer()
    return { res, names: [...new Set(res.headers.keys())].sort() }
  }
  const json = { 'content-type': 'application/json' }
  const sorted = (...xs: string[][]) => xs.flat().sort()

  const live = await names('/health/live')
  t.same(live.names, sorted(BASE), 'a constant route: the baseline only')
  t.equal(live.res.headers.get('x-content-type-options'), 'nosniff')
  t.equal(live.res.headers.get('content-security-policy'), "default-src 'none'; frame-ancestors 'none'")
  t.match(live.res.headers.get('strict-transport-security'), /^max-age=31536000/)
  t.equal(live.res.headers.get('content-type'), 'application/json; charset=utf-8')

  const jwks = await names('/.well-known/jwks.json')
  t.same(jwks.names, sorted(BASE, ['cache-control', 'etag']), 'the key set: the baseline, cacheable')
  t.match(jwks.res.headers.get('cache-control'), /^public, max-age=/)

  await fetch(base + '/auth/register', { method: 'POST', headers: json, body: JSON.stringify({ username: 'headers_user', password: GOOD_PASSWORD }) })
  const login = await names('/auth/login', { method: 'POST', headers: { ...json, 'x-auth-mode': 'header' }, body: JSON.stringify({ username: 'headers_user', password: GOOD_PASSWORD }) })
  t.same(login.names, sorted(BASE, ['cache-control', 'pragma']), 'a token answer: no-store')
  t.equal(login.res.headers.get('cache-control'), 'no-store')
  const token = (await (await fetch(base + '/auth/login', { method: 'POST', headers: { ...json, 'x-auth-mode': 'header' }, body: JSON.stringify({ username: 'headers_user', password: GOOD_PASSWORD }) })).json()).access_token

  const me = await names('/auth/me', { headers: { authorization: `Bearer ${token}` } })
  t.same(me.names, sorted(BASE, ['cache-control']), 'personal data: no-store')
  t.equal(me.res.headers.get('cache-control'), 'no-store')
  const refused = await names('/auth/me')
  t.same(refused.names, sorted(BASE, ['cache-control', 'www-authenticate']), 'a refusal under /auth: no-store and the challenge')

  const cookieLogin = await names('/auth/login', { method: 'POST', headers: json, body: JSON.stringify({ username: 'headers_user', password: GOOD_PASSWORD }) })
  t.same(cookieLogin.names, sorted(BASE, ['cache-control', 'pragma', 'set-cookie']), 'cookie mode adds only the cookies')

  const missing = await names('/nowhere')
  t.same(missing.names, sorted(BASE), 'a 404: the baseline')

  const page = await names('/docs/static/index.html')
  t.same(page.names, sorted(BASE, PAGE_ONLY), 'a page: the browser set on top')
  t.equal(page.res.headers.get('x-frame-options'), 'SAMEORIGIN')
  t.match(page.res.headers.get('content-security-policy'), /frame-ancestors 'none'/, "the page's own CSP, framed by no one")
  t.match(page.res.headers.get('content-security-policy'), /script-src 'self'/)
  t.notOk(live.res.headers.get('x-powered-by'))
  t.notOk(live.res.headers.get('access-control-allow-origin'), 'no CORS without CORS_ORIGINS')
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
  const { app } = await buildApp(t, { backend: 'embedded', env: { LOG_LEVEL: 'trace' }, logger: { level: 'trace', stream } })
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
  t.match(log, /"msg":"request completed"/, 'at trace, each request logs its lines')
  for (const s of secrets) t.notOk(log.includes(s), `secret ${s.slice(0, 6)}… is not in the logs`)
})

t.test('at info, a request logs no line of its own', async (t) => {
  const lines: string[] = []
  const stream = new Writable({ write (chunk, _enc, done) { lines.push(chunk.toString()); done() } })
  const { app } = await buildApp(t, { backend: 'embedded', env: { LOG_LEVEL: 'info' }, logger: { level: 'info', stream } })
  const before = lines.length
  for (let i = 0; i < 20; i++) await app.inject('/health/live')
  t.equal(lines.length, before, 'twenty requests, no log line')
  await app.inject({ method: 'POST', url: '/auth/login', payload: { username: 'nobody_here', password: 'a wrong password here' } })
  t.match(lines.join(''), /"event":"login_failed"/, 'security events are still logged')
})

// What Fastify and Node's HTTP parser refuse before any route runs answers in
// the API's shape, with a documented code and nothing of the request echoed:
// over a raw socket, as a client that sends broken HTTP would see it.
t.test('malformed requests get the one error shape, with a stable code', async (t) => {
  const { app } = await buildApp(t, { backend: 'embedded' })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const port = (app.server.address() as { port: number }).port
  const raw = (request: string) => new Promise<{ status: number, headers: string, body: string }>((resolve, reject) => {
    const socket = connect(port, '127.0.0.1')
    let out = ''
    socket.on('data', (d) => { out += d.toString() })
    socket.on('error', reject)
    socket.on('close', () => {
      const [head, body] = [out.slice(0, out.indexOf('\r\n\r\n')), out.slice(out.indexOf('\r\n\r\n') + 4)]
      resolve({ status: Number(head.split(' ')[1]), headers: head.toLowerCase(), body })
    })
    socket.end(request)
  })
  const post = (type: string, body: string) => `POST /auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: ${type}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`
  const shape = (status: number, error: string, code: string) => ({ statusCode: status, error, code, message: String })
  const cases: Array<[string, string, number, string, string]> = [
    ['a path parameter of 256 characters', `DELETE /auth/sessions/${'a'.repeat(256)} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, 414, 'URI Too Long', 'URI_TOO_LONG'],
    ['broken percent-encoding', 'DELETE /auth/sessions/%zz-probe HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', 400, 'Bad Request', 'BAD_REQUEST'],
    ['a body over BODY_LIMIT', post('application/json', `{"username":"${'x'.repeat(20_000)}"}`), 413, 'Payload Too Large', 'PAYLOAD_TOO_LARGE'],
    ['Content-Length with Transfer-Encoding (request smuggling)', 'POST /auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', 400, 'Bad Request', 'BAD_REQUEST'],
    ['a body that is not JSON', post('application/json', '{"username": "zz-probe'), 400, 'Bad Request', 'VALIDATION'],
    ['a body of another type', post('text/zz-probe', 'hi'), 415, 'Unsupported Media Type', 'UNSUPPORTED_MEDIA_TYPE'],
    ['a 20 KB header', `GET /health/live HTTP/1.1\r\nHost: x\r\nX-Probe: ${'a'.repeat(20_000)}\r\n\r\n`, 431, 'Request Header Fields Too Large', 'HEADERS_TOO_LARGE']
  ]
  for (const [what, request, status, error, code] of cases) {
    const res = await raw(request)
    t.equal(res.status, status, `${what}: ${status}`)
    t.match(res.headers, /content-type: application\/json/, `${what}: JSON`)
    t.match(res.headers, /x-content-type-options: nosniff/, `${what}: the baseline headers`)
    const body = JSON.parse(res.body)
    t.match(body, shape(status, error, code), `${what}: ${code}`)
    t.same(Object.keys(body).sort(), ['code', 'error', 'message', 'statusCode'], `${what}: nothing else`)
    t.notMatch(body.message, /aaaa|zz-probe|FST_|HPE_|xxxx/, `${what}: nothing echoed, no internals`)
  }
  const unknown = await raw('GET /nowhere/probe-path HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
  t.match(JSON.parse(unknown.body), shape(404, 'Not Found', 'NOT_FOUND'))
  t.notMatch(unknown.body, /probe-path/, 'a 404 does not echo the path either')
  t.equal((await fetch(`http://127.0.0.1:${port}/health/live`)).status, 200, 'and the server still serves')
})
