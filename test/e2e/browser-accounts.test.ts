// The SPA example in Debian's Chromium with the new account pages: a passkey
// registered through a CDP virtual authenticator (WebAuthn.addVirtualAuthenticator),
// then a sign-in with it; TOTP enrolled from the QR page and a sign-in with a
// code this test computes; the "set a new password" page from a reset link.
// Page and service are both on localhost (another port each: the same site),
// since a WebAuthn RP ID is a host name, never an IP address.
import t from 'tap'
import * as OTPAuth from 'otpauth'
import type { BrowserContext, Page } from 'playwright-core'
import { startSpa } from '../../examples/spa/server.ts'
import { launchChromium, screenshotPath, startService } from '../helpers/e2e.ts'
import { freePort } from '../helpers/servers.ts'
import { GOOD_PASSWORD, uniqueName } from '../helpers/client.ts'
import { signUp, signedInView } from '../helpers/spa-page.ts'

const ADMIN = { username: 'e2e-admin', password: 'the e2e admin passphrase' }
const spaPort = await freePort()
const spaOrigin = `http://localhost:${spaPort}`
const service = await startService(t, { CORS_ORIGINS: spaOrigin, WEBAUTHN_ORIGINS: spaOrigin, WEBAUTHN_RP_NAME: 'Auth example', ADMIN_USERNAME: ADMIN.username, ADMIN_PASSWORD: ADMIN.password })
const apiBase = `http://localhost:${service.port}`
const spa = await startSpa({ authBaseUrl: apiBase, port: spaPort })
t.teardown(spa.close)
const browser = await launchChromium(t)

async function open (context: BrowserContext, url = spaOrigin): Promise<Page> {
  const page = await context.newPage()
  await page.goto(url)
  return page
}

async function signOut (page: Page): Promise<void> {
  await page.click('#sign-out')
  await page.locator('#signed-out').waitFor({ state: 'visible' })
}

/** A page of the SPA with a CDP virtual platform authenticator (resident keys, user verification) attached. */
async function withAuthenticator (context: BrowserContext) {
  const page = await open(context)
  const cdp = await context.newCDPSession(page)
  await cdp.send('WebAuthn.enable')
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true }
  })
  return { page, cdp, authenticatorId }
}

const sessionMethods = (page: Page) => page.locator('#sessions tr td:nth-child(3)').allTextContents()

t.test('register a passkey in the SPA, sign out, sign in with it (no username, no password)', async (t) => {
  const context = await browser.newContext()
  t.teardown(() => context.close())
  const { page, cdp, authenticatorId } = await withAuthenticator(context)
  const username = uniqueName('passkey')
  await signUp(page, username)
  await page.fill('#passkey-add input[name=name]', 'Test laptop')
  await page.click('#passkey-add button[type=submit]')
  await page.locator('#passkeys li').first().waitFor()
  t.equal(await page.locator('#passkeys .passkey-name').textContent(), 'Test laptop', 'the passkey is listed')
  t.match(await page.locator('#notice').textContent(), /Passkey "Test laptop" added/)
  const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId })
  t.equal(credentials.length, 1, 'the authenticator holds one credential')
  t.equal(credentials[0].isResidentCredential, true, 'a discoverable one')
  t.equal(credentials[0].rpId, 'localhost')
  await page.locator('#security').screenshot({ path: screenshotPath('spa-security') })

  await signOut(page)
  await page.click('#passkey-sign-in')
  await signedInView(page, username)
  t.pass('signed in with the passkey')
  await page.waitForFunction(() => document.querySelectorAll('#sessions tr').length > 0)
  t.same(await sessionMethods(page), ['passkey, key-bound'], 'the session says it signed in with a passkey (the password session ended at sign-out), bound to the page\'s DPoP key')
  const { credentials: after } = await cdp.send('WebAuthn.getCredentials', { authenticatorId })
  t.ok(after[0].signCount >= 1, 'the authenticator signed with its counter moving on')
  await page.screenshot({ path: screenshotPath('spa-passkey-signed-in') })
})

t.test('a password session of a passkey user starts TOTP: the Security card asks for proof, a passkey gives it, the call is sent again', async (t) => {
  const context = await browser.newContext()
  t.teardown(() => context.close())
  const { page } = await withAuthenticator(context)
  const username = uniqueName('stepup')
  await signUp(page, username)
  await page.fill('#passkey-add input[name=name]', 'Laptop')
  await page.click('#passkey-add button[type=submit]')
  await page.locator('#passkeys li').first().waitFor()
  // This session signed in with the password alone, and the user now has a passkey: 401 MFA_REQUIRED.
  await page.click('#totp-start')
  await page.locator('#reauth').waitFor({ state: 'visible' })
  t.match(await page.locator('#reauth-why').textContent(), /second factor/, 'the card says why it asks')
  t.equal(await page.locator('#signed-in').isVisible(), true, 'still signed in: not a sign-out')
  await page.locator('#security').screenshot({ path: screenshotPath('spa-reauth') })
  await page.click('#reauth-passkey')
  await page.locator('#totp-enrol').waitFor({ state: 'visible' })
  t.equal(await page.locator('#reauth').isVisible(), false, 'the question is gone')
  t.match((await page.locator('#totp-secret').textContent())!, /^[A-Z2-7]{32}$/, 'the enrolment went through once the passkey proved it is the user')
  await page.click('#reload-message')
  await page.waitForFunction(() => /passkey/.test(document.querySelector('#sessions tr td:nth-child(3)')?.textContent ?? ''))
  t.same(await sessionMethods(page), ['passkey, key-bound'], 'the session now says it proved itself with a passkey')
})

t.test('enrol TOTP from the QR page, sign out, sign in with a code computed here', async (t) => {
  const context = await browser.newContext()
  t.teardown(() => context.close())
  const page = await open(context)
  const username = uniqueName('totp')
  await signUp(page, username)
  await page.locator('#totp-status').filter({ hasText: 'Off' }).waitFor()
  await page.click('#totp-start')
  await page.locator('#totp-enrol').waitFor({ state: 'visible' })
  const secret = (await page.locator('#totp-secret').textContent())!
  t.match(secret, /^[A-Z2-7]{32}$/)
  await page.waitForFunction(() => (document.getElementById('totp-qr') as HTMLImageElement).complete && (document.getElementById('totp-qr') as HTMLImageElement).naturalWidth > 0)
  t.match(await page.locator('#totp-qr').getAttribute('src'), /^data:image\/svg\+xml/, 'the QR code is drawn in the page')
  await page.locator('#security').screenshot({ path: screenshotPath('spa-totp-enrol') })
  const totp = new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(secret), digits: 6, period: 30, algorithm: 'SHA1' })
  await page.fill('#totp-confirm input[name=code]', totp.generate())
  await page.click('#totp-confirm button[type=submit]')
  await page.locator('#recovery').waitFor({ state: 'visible' })
  t.equal(await page.locator('#recovery-codes li').count(), 10, 'ten recovery codes are shown once')
  await page.locator('#totp-status').filter({ hasText: 'On.' }).waitFor()
  await page.locator('#security').screenshot({ path: screenshotPath('spa-recovery-codes') })

  await signOut(page)
  await page.fill('#sign-in input[name=username]', username)
  await page.fill('#sign-in input[name=password]', GOOD_PASSWORD)
  await page.click('#sign-in button[type=submit]')
  await page.locator('#mfa-step').waitFor({ state: 'visible' })
  t.equal(await page.locator('#signed-in').isVisible(), false, 'not signed in after the password alone')
  await page.screenshot({ path: screenshotPath('spa-mfa-step') })
  // The next step's code: the one just used for confirmation is spent (one use per code).
  await page.fill('#mfa-step input[name=code]', totp.generate({ timestamp: Date.now() + 30_000 }))
  await page.click('#mfa-step button[type=submit]')
  await signedInView(page, username)
  await page.waitForFunction(() => document.querySelectorAll('#sessions tr').length > 0)
  t.same(await sessionMethods(page), ['password + code, key-bound'])
})

t.test('the set-a-new-password page takes the reset token from the URL fragment', async (t) => {
  const username = uniqueName('reset')
  const reg = await fetch(`${service.base}/auth/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, password: GOOD_PASSWORD }) })
  const { id } = await reg.json()
  const login = await fetch(`${service.base}/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-auth-mode': 'header' }, body: JSON.stringify(ADMIN) })
  const adminToken = (await login.json()).access_token
  const issued = await fetch(`${service.base}/admin/users/${id}/password-reset`, { method: 'POST', headers: { authorization: `Bearer ${adminToken}` } })
  const { reset_token: token } = await issued.json()

  const context = await browser.newContext()
  t.teardown(() => context.close())
  const requests: string[] = []
  context.on('request', (req) => requests.push(req.url()))
  const page = await open(context, `${spaOrigin}/#reset=${token}`)
  await page.locator('#reset').waitFor({ state: 'visible' })
  await page.screenshot({ path: screenshotPath('spa-reset') })
  const next = 'a new password from the reset page'
  await page.fill('#reset-form input[name=password]', next)
  await page.click('#reset-form button[type=submit]')
  await page.locator('#signed-out').waitFor({ state: 'visible' })
  t.match(await page.locator('#notice').textContent(), /new password is set/)
  t.equal(new URL(page.url()).hash, '', 'the token is gone from the address bar')
  t.notOk(requests.some((u) => u.includes(token)), 'the token never went into a URL a server saw')
  await page.fill('#sign-in input[name=username]', username)
  await page.fill('#sign-in input[name=password]', next)
  await page.click('#sign-in button[type=submit]')
  await signedInView(page, username)
  t.pass('signed in with the new password')
})
