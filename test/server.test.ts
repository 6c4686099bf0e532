// The real process on its embedded defaults: starts, serves, stops cleanly on
// SIGTERM, and keeps its data across a restart.
import t from 'tap'
import type { ChildProcess } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { spawnService, waitFor } from './helpers/servers.ts'
import { GOOD_PASSWORD } from './helpers/client.ts'

const start = (env: Record<string, string>) => spawnService({ COOKIE_SECURE: 'false', ...env })

async function stop (proc: ChildProcess): Promise<number | null> {
  const code = new Promise<number | null>((resolve) => proc.once('exit', resolve))
  proc.kill('SIGTERM')
  return code
}

t.test('start on embedded defaults, restart, data survives', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'auth-server-'))
  const env = { DATA_DIR: dataDir, ADMIN_USERNAME: 'root-admin', ADMIN_PASSWORD: 'an admin passphrase' }
  const first = await start(env)
  await waitFor(async () => { const r = await fetch(`${first.base}/health/ready`); if (r.status !== 200) throw new Error(String(r.status)) }, 60_000, 'service')
  const ready = await (await fetch(`${first.base}/health/ready`)).json()
  t.same(ready, { status: 'ok', database: 'up', revocations: 'up', revocationBackend: 'in-process' })
  const reg = await fetch(`${first.base}/auth/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'Persistent', password: GOOD_PASSWORD }) })
  t.equal(reg.status, 201)
  t.equal(await stop(first.proc), 0, 'SIGTERM: graceful exit 0')
  t.match(first.output(), /REDIS_URL is not set/, 'the in-process revocation store says so in the log')
  t.notMatch(first.output(), /an admin passphrase/, 'the admin password is never logged')
  t.notMatch(first.output(), new RegExp(GOOD_PASSWORD), 'no password in the request logs')

  const second = await start(env)
  await waitFor(async () => { const r = await fetch(`${second.base}/health/ready`); if (r.status !== 200) throw new Error(String(r.status)) }, 60_000, 'service')
  const login = await fetch(`${second.base}/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-auth-mode': 'header' }, body: JSON.stringify({ username: 'persistent', password: GOOD_PASSWORD }) })
  t.equal(login.status, 200, 'the user registered before the restart logs in')
  const body = await login.json()
  const me = await fetch(`${second.base}/auth/me`, { headers: { authorization: `Bearer ${body.access_token}` } })
  t.equal(me.status, 200)
  const admin = await fetch(`${second.base}/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-auth-mode': 'header' }, body: JSON.stringify({ username: 'root-admin', password: 'an admin passphrase' }) })
  t.same((await admin.json()).user.roles, ['admin', 'user'], 'the bootstrap admin exists')
  t.equal(await stop(second.proc), 0)
  t.notMatch(second.output(), /"authorization":"Bearer|refresh_token=|an admin passphrase/, 'no secret in any log line')
})

t.test('production refuses to start without a key-encryption secret for managed keys', async (t) => {
  const s = await start({ NODE_ENV: 'production', DATA_DIR: mkdtempSync(join(tmpdir(), 'auth-prod-')) })
  const code = await new Promise((resolve) => s.proc.once('exit', resolve))
  t.equal(code, 1)
  t.match(s.output(), /configuration error: NODE_ENV=production with managed signing keys \(no JWT_PRIVATE_KEY, no JWT_SECRET\) needs KEY_ENCRYPTION_SECRET/)
})

t.test('a slow client cannot hold a connection open (slowloris)', async (t) => {
  const s = await start({ DATA_DIR: mkdtempSync(join(tmpdir(), 'auth-slow-')), REQUEST_TIMEOUT: '1' })
  t.teardown(() => { s.proc.kill('SIGKILL') })
  await waitFor(async () => { const r = await fetch(`${s.base}/health/live`); if (r.status !== 200) throw new Error(String(r.status)) }, 60_000, 'service')
  const { connect } = await import('node:net')
  const port = Number(new URL(s.base).port)
  const sock = connect(port, '127.0.0.1')
  let answer = ''
  sock.on('data', (d) => { answer += d })
  await new Promise((resolve) => sock.once('connect', resolve))
  sock.write('GET /health/live HTTP/1.1\r\nHost: x\r\nX-Slow: ')
  const drip = setInterval(() => sock.write('a'), 200) // never finishes its headers
  const closedAfter = await new Promise<number>((resolve) => {
    const started = Date.now()
    sock.once('close', () => resolve(Date.now() - started))
  })
  clearInterval(drip)
  t.ok(closedAfter < 5000, `the server ended the connection after ${closedAfter} ms`)
  t.match(answer, /^HTTP\/1\.1 408/, 'with 408 Request Timeout')
})
