// The SPA example (examples/spa) in Debian's Chromium signing in through a
// real OpenID Provider (oidc-provider, in this process): the "Sign in with
// <label>" button, the provider's own login and consent pages, back to the
// SPA signed in (and still after a reload); a refusal at the consent page;
// linking an identity from the Security card. The service listens on its
// PUBLIC_URL, the provider's redirect URI. The provider's pages load a Google
// Fonts stylesheet, which fails offline: harmless.
import t from 'tap'
import type { BrowserContext, Page } from 'playwright-core'
import { startSpa } from '../../examples/spa/server.ts'
import { launchChromium, screenshotPath } from '../helpers/e2e.ts'
import { freePort } from '../helpers/servers.ts'
import { oidcApp } from '../helpers/oidc.ts'
import { GOOD_PASSWORD, uniqueName } from '../helpers/client.ts'
import { openSpa, signUp, signedInView, signedOutView } from '../helpers/spa-page.ts'

const spaPort = await freePort()
const spaOrigin = `http://127.0.0.1:${spaPort}`
const { idp, publicUrl, app } = await oidcApp(t, 'embedded', { listen: true, env: { CORS_ORIGINS: spaOrigin, OIDC_RETURN_ORIGINS: spaOrigin } })
const spa = await startSpa({ authBaseUrl: publicUrl, port: spaPort })
t.teardown(spa.close)
const browser = await launchChromium(t)

const issuerHost = new URL(idp.issuer).host

/** At the provider's login page: types the login (its development pages take any password) and submits. */
async function providerLogin (page: Page, login: string): Promise<void> {
  await page.waitForURL((url) => url.host === issuerHost)
  await page.locator('input[name=login]').waitFor()
  await page.fill('input[name=login]', login)
  await page.fill('input[name=password]', 'any password')
  await page.click('button[type=submit]')
}

/** The provider's consent page: Continue, or its Cancel link. */
async function providerConsent (page: Page, answer: 'continue' | 'cancel'): Promise<void> {
  // The login page has a Cancel link too: first the consent page itself.
  await page.locator('input[name=prompt][value=consent]').waitFor({ state: 'attached' })
  await page.click(answer === 'continue' ? 'button:has-text("Continue")' : 'a:has-text("Cancel")')
}

const newContext = (t: { teardown: (fn: () => unknown) => void }): Promise<BrowserContext> =>
  browser.newContext().then((c) => { t.teardown(() => c.close()); return c })

t.test('the button, the provider\'s pages, back in the SPA signed in; a reload keeps the session', async (t) => {
  idp.accounts.set('carla-1', { sub: 'carla-1', email: 'carla@corp.test', email_verified: true, preferred_username: 'carla' })
  const context = await newContext(t)
  const page = await openSpa(context, spa.url)
  const button = page.locator('#oidc-providers button')
  t.same(await button.allTextContents(), ['Sign in with corp SSO'], 'one button, with the provider\'s label')
  await page.screenshot({ path: screenshotPath('spa-oidc-button') })

  await button.click()
  await providerLogin(page, 'carla-1')
  await providerConsent(page, 'continue')
  await page.waitForURL((url) => url.origin === spaOrigin)
  await signedInView(page, 'carla')
  t.equal(await page.textContent('#username'), 'carla')
  t.equal(new URL(page.url()).hash, '', 'the fragment is gone from the address bar')
  await page.locator('#sessions tr').first().waitFor()
  t.match(await page.textContent('#sessions'), /provider/, 'the session says how it signed in')
  await page.locator('#identities li').first().waitFor()
  t.match(await page.textContent('#identities'), /corp SSO.*carla@corp\.test/, 'the Security card lists the identity')
  await page.screenshot({ path: screenshotPath('spa-oidc-signed-in') })

  await page.reload()
  await page.locator('#loading').waitFor({ state: 'hidden' })
  await signedInView(page, 'carla')
  t.pass('a reload keeps the session')
  const cookies = await context.cookies(`${publicUrl}/auth/refresh`)
  t.equal(cookies.find((c) => c.name === 'refresh_token')?.httpOnly, true, 'the refresh token in the HttpOnly cookie')
})

t.test('a user who refuses at the consent page sees why, and is not signed in', async (t) => {
  idp.accounts.set('dora-1', { sub: 'dora-1', preferred_username: 'dora' })
  const context = await newContext(t)
  const page = await openSpa(context, spa.url)
  await page.click('#oidc-providers button')
  await providerLogin(page, 'dora-1')
  await providerConsent(page, 'cancel')
  await page.waitForURL((url) => url.origin === spaOrigin)
  const said = await signedOutView(page)
  await page.waitForFunction(() => /cancelled/.test(document.getElementById('notice')?.textContent ?? ''))
  t.equal(await page.textContent('#notice'), 'The sign-in was cancelled at the provider. (access_denied)', `the refusal message (was "${said}")`)
  t.equal(new URL(page.url()).hash, '')
  t.equal((await context.cookies(`${publicUrl}/auth/refresh`)).find((c) => c.name === 'refresh_token'), undefined, 'no session cookie')
  await page.screenshot({ path: screenshotPath('spa-oidc-refused') })
})

t.test('linking from the Security card: the provider, then the identity listed; unlink after step-up', async (t) => {
  idp.accounts.set('erin-1', { sub: 'erin-1', email: 'erin@corp.test' })
  const context = await newContext(t)
  const page = await openSpa(context, spa.url)
  const name = uniqueName('Erin')
  await signUp(page, name)
  t.equal(await page.isVisible('#identities-none'), true, 'no linked account yet')
  await page.click('#identity-links button:has-text("Link corp SSO")')
  await providerLogin(page, 'erin-1')
  await providerConsent(page, 'continue')
  await page.waitForURL((url) => url.origin === spaOrigin)
  await signedInView(page, name)
  await page.waitForFunction(() => /linked/.test(document.getElementById('notice')?.textContent ?? ''))
  t.equal(await page.textContent('#notice'), 'Your corp SSO account is linked: you can sign in with it.')
  await page.locator('#identities li').first().waitFor()
  t.match(await page.textContent('#identities'), /corp SSO.*erin@corp\.test/)

  // An hour later (the sign-in too old for a change): unlinking asks for the password first.
  await app.prisma.session.updateMany({ where: { user: { usernameKey: name.toLowerCase() } }, data: { authTime: new Date(Date.now() - 3600_000) } })
  await page.reload()
  await signedInView(page, name)
  await page.click('#identities li button:has-text("Unlink")')
  await page.locator('#reauth').waitFor({ state: 'visible' })
  await page.fill('#reauth input[name=password]', GOOD_PASSWORD)
  await page.click('#reauth-confirm')
  await page.locator('#identities-none').waitFor({ state: 'visible' })
  t.equal(await page.locator('#identities li').count(), 0, 'unlinked after the proof')
})

// With COOKIE_SAMESITE=None, cookies the callback set during a top-level
// navigation to the service's own site would be Partitioned under that site,
// not the SPA's. Such a sign-in hands the SPA a login_code instead, which a
// cookie-mode POST /auth/oidc/exchange from the SPA's page turns into cookies
// in the SPA's partition.
t.test('a SPA on another site (COOKIE_SAMESITE=None): the provider sign-in lands in the SPA signed in', async (t) => {
  // localhost and 127.0.0.1 are different sites: every call of the SPA to the service is cross-site.
  const port = await freePort()
  const origin = `http://localhost:${port}`
  const other = await oidcApp(t, 'embedded', { listen: true, env: { CORS_ORIGINS: origin, OIDC_RETURN_ORIGINS: origin, COOKIE_SAMESITE: 'None', COOKIE_SECURE: 'true' } })
  const crossSpa = await startSpa({ authBaseUrl: other.publicUrl, port, host: 'localhost' })
  t.teardown(crossSpa.close)
  other.idp.accounts.set('hana-1', { sub: 'hana-1', preferred_username: 'hana' })
  const context = await newContext(t)
  const page = await openSpa(context, origin)
  await page.click('#oidc-providers button')
  await page.waitForURL((url) => url.host === new URL(other.idp.issuer).host)
  await page.locator('input[name=login]').waitFor()
  await page.fill('input[name=login]', 'hana-1')
  await page.fill('input[name=password]', 'any password')
  await page.click('button[type=submit]')
  await page.locator('input[name=prompt][value=consent]').waitFor({ state: 'attached' })
  await page.click('button:has-text("Continue")')
  await page.waitForURL((url) => url.origin === origin)
  await page.waitForFunction(() => document.getElementById('username')?.textContent !== '' || document.getElementById('notice')?.className === 'error')
  const partition = (await context.cookies(`${other.publicUrl}/auth/refresh`)).find((c) => c.name === 'refresh_token')?.partitionKey
  t.match(partition ?? '', /localhost/, `the refresh cookie in the SPA site's partition (${partition})`)
  t.equal(await page.textContent('#username'), 'hana', `signed in (notice: ${await page.textContent('#notice')})`)
})
