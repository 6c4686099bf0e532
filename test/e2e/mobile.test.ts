// The mobile-style client (examples/mobile, header mode, refresh token and
// DPoP key in 0600 files) against the real service through a network that
// can lose an answer: it survives a lost refresh answer with DPoP on; a thief
// who copies the refresh token alone gets nothing; one who copies the key
// file too can refresh, and the owner's next start is a reuse that signs it
// out once, with no retry loop.
import { randomUUID } from 'node:crypto'
import { SignJWT, importJWK } from 'jose'
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
  const keyFile = join(tokenFile, '..', 'dpop-key.json')
  t.equal(statSync(keyFile).mode & 0o777, 0o600, 'the DPoP key file is owner-only')

  /** A refresh as someone holding the token file, and the key file if given, would send it. */
  async function stolenRefresh (token: string, keyFileContent?: string) {
    const headers: Record<string, string> = { 'content-type': 'application/json', 'x-auth-mode': 'header' }
    if (keyFileContent !== undefined) {
      const { privateJwk, publicJwk } = JSON.parse(keyFileContent)
      const key = await importJWK(privateJwk, 'ES256')
      headers.dpop = await new SignJWT({ htm: 'POST', htu: `${service.base}/auth/refresh`, iat: Math.floor(Date.now() / 1000), jti: randomUUID() })
        .setProtectedHeader({ typ: 'dpop+jwt', alg: 'ES256', jwk: { kty: publicJwk.kty, crv: publicJwk.crv, x: publicJwk.x, y: publicJwk.y } })
        .sign(key)
    }
    return await fetch(`${service.base}/auth/refresh`, { method: 'POST', headers, body: JSON.stringify({ refresh_token: token }) })
  }

  t.test('a refresh answer lost in transit with DPoP on: retried inside the grace window', async (t) => {
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

  t.test('the refresh token copied without the key: refused, and nothing changes for the owner', async (t) => {
    const thief = await stolenRefresh(readFileSync(tokenFile, 'utf8'))
    t.equal(thief.status, 401)
    t.equal((await thief.json()).code, 'DPOP_PROOF_INVALID')
    const me = await cli('me')
    t.equal(me.code, 0, me.err)
    t.equal(service.securityEvents('refresh_token_reused'), 0)
  })

  t.test('token and key file copied: the thief refreshes; the owner\'s reuse ends the session once, no retry loop', async (t) => {
    // A thief copies both files and refreshes first; the owner's next
    // start presents the spent token after the grace window.
    const copiedKey = readFileSync(keyFile, 'utf8')
    const thief = await stolenRefresh(readFileSync(tokenFile, 'utf8'), copiedKey)
    t.equal(thief.status, 200)
    await new Promise((resolve) => setTimeout(resolve, (GRACE + 1) * 1000))
    let me!: Awaited<ReturnType<typeof cli>>
    const requests = await requestsDuring(async () => { me = await cli('me') })
    t.equal(me.code, 2, 'exit code 2: signed out')
    t.match(me.err, /signed out \(REFRESH_TOKEN_REUSED\)/, 'and says why')
    t.same(requests, ['POST /auth/refresh'], 'one refresh request; the call itself never went out')
    t.notOk(existsSync(tokenFile), 'the spent token was deleted')
    t.notOk(existsSync(keyFile), 'and the key: the next session gets a new one')
    t.equal(service.securityEvents('refresh_token_reused'), 1, 'the service recorded the reuse')

    const later = await requestsDuring(async () => { me = await cli('me') })
    t.equal(me.code, 2)
    t.same(later, [], 'signed out: the next start sends nothing')
    const thiefAgain = await stolenRefresh((await thief.json()).refresh_token, copiedKey)
    t.equal(thiefAgain.status, 401, 'the thief\'s token died with the session')
  })
})
