// The mobile-style client (examples/mobile, header mode, refresh token in a
// 0600 file) against the real service through a network that can lose an
// answer: it survives a lost refresh answer, and a reused refresh token signs
// it out once, with no retry loop.
import t from 'tap'
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, statSync, existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { lossyProxy, startService } from '../helpers/e2e.ts'
import { GOOD_PASSWORD, uniqueName } from '../helpers/client.ts'

const GRACE = 2

t.test('mobile-style client: lost refresh answer, then a reused refresh token', async (t) => {
  const service = await startService(t, { REFRESH_REUSE_GRACE: String(GRACE) })
  const proxy = await lossyProxy(t, service.base)
  const tokenFile = join(mkdtempSync(join(tmpdir(), 'auth-mobile-')), 'keystore', 'refresh-token')

  function cli (...args: string[]): Promise<{ code: number | null, out: string, err: string }> {
    return new Promise((resolve) => {
      const proc = spawn(process.execPath, ['examples/mobile/cli.ts', ...args], {
        env: { ...process.env, AUTH_URL: proxy.base, AUTH_TOKEN_FILE: tokenFile, AUTH_PASSWORD: GOOD_PASSWORD },
        stdio: ['ignore', 'pipe', 'pipe']
      })
      let out = ''
      let err = ''
      proc.stdout.on('data', (d) => { out += d })
      proc.stderr.on('data', (d) => { err += d })
      proc.once('exit', (code) => resolve({ code, out, err }))
    })
  }
  const requestsDuring = async (run: () => Promise<unknown>) => {
    const from = proxy.seen.length
    await run()
    return proxy.seen.slice(from)
  }

  const name = uniqueName('Mobile')
  t.equal((await cli('register', name)).code, 0)
  const login = await cli('login', name)
  t.equal(login.code, 0, login.err)
  t.equal(statSync(tokenFile).mode & 0o777, 0o600, 'the refresh token file is owner-only')
  t.equal(statSync(join(tokenFile, '..')).mode & 0o777, 0o700, 'in an owner-only folder')

  t.test('a refresh answer lost in transit: retried inside the grace window', async (t) => {
    const before = readFileSync(tokenFile, 'utf8')
    proxy.loseNext('/auth/refresh')
    let me!: Awaited<ReturnType<typeof cli>>
    const requests = await requestsDuring(async () => { me = await cli('me') })
    t.equal(me.code, 0, me.err)
    t.match(me.out, name, 'the command worked')
    t.same(requests, ['POST /auth/refresh', 'POST /auth/refresh', 'GET /auth/me'], 'one lost refresh, one retry, then the call')
    const after = readFileSync(tokenFile, 'utf8')
    t.not(after, before, 'the rotated token was stored')
    t.equal(service.securityEvents('refresh_token_reused'), 0, 'the service saw no reuse')
    const again = await cli('me')
    t.equal(again.code, 0, 'the stored token is the live one: the next start works')
    const sessions = await cli('sessions')
    t.equal(sessions.out.trim().split('\n').length, 1, 'still one session')
  })

  t.test('a reused refresh token: one clear sign-out, no retry loop', async (t) => {
    // A thief copies the token file and refreshes first; the owner's next
    // start presents the spent token after the grace window.
    const stolen = readFileSync(tokenFile, 'utf8')
    const thief = await fetch(`${service.base}/auth/refresh`, {
      method: 'POST', headers: { 'content-type': 'application/json', 'x-auth-mode': 'header' }, body: JSON.stringify({ refresh_token: stolen })
    })
    t.equal(thief.status, 200)
    await new Promise((resolve) => setTimeout(resolve, (GRACE + 1) * 1000))
    let me!: Awaited<ReturnType<typeof cli>>
    const requests = await requestsDuring(async () => { me = await cli('me') })
    t.equal(me.code, 2, 'exit code 2: signed out')
    t.match(me.err, /signed out \(REFRESH_TOKEN_REUSED\)/, 'and says why')
    t.same(requests, ['POST /auth/refresh'], 'one refresh request; the call itself never went out')
    t.notOk(existsSync(tokenFile), 'the spent token was deleted')
    t.equal(service.securityEvents('refresh_token_reused'), 1, 'the service recorded the reuse')

    const later = await requestsDuring(async () => { me = await cli('me') })
    t.equal(me.code, 2)
    t.same(later, [], 'signed out: the next start sends nothing')
    const thiefAgain = await fetch(`${service.base}/auth/refresh`, {
      method: 'POST', headers: { 'content-type': 'application/json', 'x-auth-mode': 'header' }, body: JSON.stringify({ refresh_token: (await thief.json()).refresh_token })
    })
    t.equal(thiefAgain.status, 401, 'the thief\'s token died with the session')
  })
})
