// The mobile-style CLI (examples/mobile) signing in with a provider the way
// RFC 8252 has a native app do it: `oidc corp` prints the start URL (header
// mode, return_to on a loopback listener), the system browser goes through
// the provider's pages, the service sends it back to the listener with the
// login_code in the fragment, the listener's page posts the fragment to the
// CLI, and the CLI exchanges it with its DPoP key and keeps the session in
// its files. The CLI is a child process; the service and the provider
// (oidc-provider) run in this process; Chromium plays the system browser.
import t from 'tap'
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { launchChromium, screenshotPath } from '../helpers/e2e.ts'
import { freePort } from '../helpers/servers.ts'
import { oidcApp } from '../helpers/oidc.ts'

const loopbackPort = await freePort()
const loopbackOrigin = `http://127.0.0.1:${loopbackPort}`
// The loopback origin is where a sign-in may return: a phone app would list its own scheme (com.example.app:).
const { idp, publicUrl } = await oidcApp(t, 'embedded', { listen: true, env: { OIDC_RETURN_ORIGINS: loopbackOrigin } })

interface Run { exit: Promise<{ code: number | null, out: string, err: string }>, startUrl: Promise<string> }

/** The CLI as a child process; `startUrl` resolves when it prints the address to open. */
function cli (tokenFile: string, ...args: string[]): Run {
  const proc = spawn(process.execPath, ['examples/mobile/cli.ts', ...args], {
    env: { ...process.env, AUTH_URL: publicUrl, AUTH_TOKEN_FILE: tokenFile, AUTH_OIDC_PORT: String(loopbackPort), AUTH_OPEN_BROWSER: 'off' },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let out = ''
  let err = ''
  let found: (url: string) => void
  const startUrl = new Promise<string>((resolve) => { found = resolve })
  proc.stdout.on('data', (d) => {
    out += d
    const url = /^(http:\S+\/auth\/oidc\/\S+\/start\?\S+)$/m.exec(out)?.[1]
    if (url !== undefined) found(url)
  })
  proc.stderr.on('data', (d) => { err += d })
  const exit = new Promise<{ code: number | null, out: string, err: string }>((resolve) => proc.once('exit', (code) => resolve({ code, out, err })))
  t.teardown(() => { if (proc.exitCode === null) proc.kill() })
  const url = Promise.race([startUrl, exit.then((r): string => { throw new Error(`the CLI exited first: ${r.err}`) })])
  url.catch(() => {}) // a command that prints no address (me): nobody waits for one
  return { exit, startUrl: url }
}

const newTokenFile = () => join(mkdtempSync(join(tmpdir(), 'auth-mobile-oidc-')), 'keystore', 'refresh-token')

t.test('oidc corp: the system browser through the provider\'s pages, back to the loopback page; the CLI is signed in, bound to its key', async (t) => {
  idp.accounts.set('frank-1', { sub: 'frank-1', preferred_username: 'frank' })
  const tokenFile = newTokenFile()
  const run = cli(tokenFile, 'oidc', 'corp')
  const startUrl = new URL(await run.startUrl)
  t.equal(startUrl.origin + startUrl.pathname, `${publicUrl}/auth/oidc/corp/start`)
  t.equal(startUrl.searchParams.get('mode'), 'header', 'header mode: a login_code, not cookies')
  const returnTo = startUrl.searchParams.get('return_to') ?? ''
  t.match(returnTo, new RegExp(`^${loopbackOrigin}/[A-Za-z0-9_-]{22}/$`), 'back to the loopback listener, on an unguessable path')

  const browser = await launchChromium(t)
  const context = await browser.newContext()
  const page = await context.newPage()
  await page.goto(startUrl.href)
  await page.locator('input[name=login]').waitFor()
  await page.fill('input[name=login]', 'frank-1')
  await page.fill('input[name=password]', 'any password')
  await page.click('button[type=submit]')
  await page.locator('input[name=prompt][value=consent]').waitFor({ state: 'attached' })
  await page.click('button:has-text("Continue")')
  await page.waitForURL((url) => url.origin === loopbackOrigin)
  await page.waitForFunction(() => /Signed in/.test(document.getElementById('status')?.textContent ?? ''))
  t.equal(await page.textContent('#status'), 'Signed in as frank. You can close this tab and go back to the app.', 'the tab says so')
  t.equal(new URL(page.url()).hash, '', 'the login_code is gone from the address bar')
  await page.screenshot({ path: screenshotPath('mobile-oidc-loopback') })

  const done = await run.exit
  t.equal(done.code, 0, done.err)
  t.match(done.out, /signed in as frank; refresh token kept in/)

  const me = await cli(tokenFile, 'me').exit
  t.equal(me.code, 0, me.err)
  t.match(me.out, /^frank \(/, 'the next start refreshes from the files')
  t.ok(existsSync(join(tokenFile, '..', 'dpop-key.json')), 'a DPoP key beside the token')
  // The refresh token alone, without the key, is worthless: the exchange bound the session.
  const stolen = await fetch(`${publicUrl}/auth/refresh`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-auth-mode': 'header' }, body: JSON.stringify({ refresh_token: readFileSync(tokenFile, 'utf8') }) })
  t.equal(stolen.status, 401)
  t.equal((await stolen.json()).code, 'DPOP_PROOF_INVALID')
})

t.test('refused at the provider: the loopback page and the CLI both say why; a post from another origin is ignored', async (t) => {
  idp.accounts.set('gina-1', { sub: 'gina-1' })
  const tokenFile = newTokenFile()
  const run = cli(tokenFile, 'oidc', 'corp')
  const startUrl = await run.startUrl
  const returnTo = new URL(startUrl).searchParams.get('return_to')!

  // The system browser, over HTTP this time: the service's start, the provider (refusing at consent), the callback.
  const browser = idp.newBrowser()
  const start = await browser.fetch(startUrl)
  t.equal(start.status, 302)
  const callback = await idp.authorize(start.headers.get('location')!, 'gina-1', { browser, deny: true })
  const back = await browser.fetch(callback)
  t.equal(back.headers.get('location'), `${returnTo}#error=access_denied`)

  // What the loopback page is, and what its script does.
  const html = await (await fetch(returnTo)).text()
  t.match(html, `<script src="${new URL(returnTo).pathname}callback.js"></script>`, 'its script is a file of its own')
  t.notMatch(html, /<script>/, 'no inline script')
  const script = await fetch(`${returnTo}callback.js`)
  t.equal(script.headers.get('content-type'), 'text/javascript; charset=utf-8')
  t.match(await script.text(), /location\.hash/)
  const forged = await fetch(`${returnTo}done`, { method: 'POST', headers: { origin: 'http://evil.test', 'content-type': 'application/x-www-form-urlencoded' }, body: 'login_code=planted' })
  t.equal(forged.status, 404, 'another site\'s form cannot hand the CLI a code')
  t.equal((await fetch(`${loopbackOrigin}/done`, { method: 'POST', headers: { origin: loopbackOrigin }, body: 'login_code=planted' })).status, 404, 'nor a guessed path')

  const posted = await fetch(`${returnTo}done`, { method: 'POST', headers: { origin: loopbackOrigin, 'content-type': 'application/x-www-form-urlencoded' }, body: new URL(back.headers.get('location')!).hash.slice(1) })
  t.equal(await posted.text(), 'The sign-in did not complete: The sign-in was cancelled at the provider.')
  const done = await run.exit
  t.equal(done.code, 1)
  t.match(done.err, 'error: The sign-in was cancelled at the provider. (access_denied)')
  t.notOk(existsSync(tokenFile), 'no session kept')
})
