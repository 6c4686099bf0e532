// `npm run example:spa` (examples/spa/start.ts): one command starts the
// service with CORS open to the SPA's origin, and the SPA; SIGTERM stops both.
import t from 'tap'
import { spawn } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort, waitFor } from '../helpers/servers.ts'

t.test('the SPA example command', async (t) => {
  const authPort = await freePort()
  const spaPort = await freePort()
  const proc = spawn(process.execPath, ['examples/spa/start.ts'], {
    env: { ...process.env, DATABASE_URL: '', REDIS_URL: '', AUTH_PORT: String(authPort), SPA_PORT: String(spaPort), DATA_DIR: mkdtempSync(join(tmpdir(), 'auth-spa-')), BCRYPT_COST: '4' },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let output = ''
  proc.stdout.on('data', (d) => { output += d })
  proc.stderr.on('data', (d) => { output += d })
  t.teardown(() => { if (proc.exitCode === null) proc.kill('SIGKILL') })
  // Served on 127.0.0.1; the SPA and the service name each other as localhost (passkeys need a host name).
  const spa = `http://127.0.0.1:${spaPort}`
  const spaOrigin = `http://localhost:${spaPort}`
  const api = `http://localhost:${authPort}`
  const apiDirect = `http://127.0.0.1:${authPort}`
  await waitFor(async () => { if (!(await fetch(spa)).ok) throw new Error('not yet') }, 60_000, 'SPA example')

  const page = await fetch(spa)
  const html = await page.text()
  t.match(html, `<meta name="auth-base-url" content="${api}">`, 'the page knows where the service is')
  t.match(page.headers.get('content-security-policy'), `connect-src 'self' ${api}`, 'and its CSP lets it talk to the service only')
  const script = await fetch(`${spa}/app.ts`)
  t.equal(script.headers.get('content-type'), 'text/javascript; charset=utf-8')
  t.notMatch(await script.text(), /type SignedOutReason|: string\)/, 'served as JavaScript (types stripped)')
  t.equal((await fetch(`${spa}/client/index.ts`)).status, 200, 'the client library is served beside it')
  t.equal((await fetch(`${spa}/../package.json`)).status, 404, 'and nothing else')

  const preflight = await fetch(`${apiDirect}/auth/refresh`, {
    method: 'OPTIONS', headers: { origin: spaOrigin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'x-csrf-token' }
  })
  t.equal(preflight.headers.get('access-control-allow-origin'), spaOrigin, 'the service allows the SPA origin')
  t.equal(preflight.headers.get('access-control-allow-credentials'), 'true', 'with credentials')
  t.match(output, `SPA example:  ${spaOrigin}`)
  const passkeyOptions = await fetch(`${apiDirect}/auth/passkeys/authentication/options`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })
  t.equal((await passkeyOptions.json()).rpId, 'localhost', 'passkeys are set up for the SPA origin')

  const exited = new Promise<number | null>((resolve) => proc.once('exit', resolve))
  proc.kill('SIGTERM')
  t.equal(await exited, 0, 'SIGTERM stops it cleanly')
  await waitFor(async () => {
    const down = await fetch(`${api}/health/live`).then(() => false, () => true)
    if (!down) throw new Error('service still up')
  }, 15_000, 'service shutdown')
  t.pass('and the service with it')
})
