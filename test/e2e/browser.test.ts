// The SPA example (examples/spa) in Debian's Chromium, on its own origin,
// against the real service started here with production cookie defaults
// (Secure, SameSite=Strict), a 4-second access token and no reuse grace (so
// any race between tabs would show as a refresh-token reuse).
import t from 'tap'
import { createServer } from 'node:http'
import type { BrowserContext } from 'playwright-core'
import { startSpa } from '../../examples/spa/server.ts'
import { launchChromium, screenshotPath, startService } from '../helpers/e2e.ts'
import { freePort } from '../helpers/servers.ts'
import { uniqueName } from '../helpers/client.ts'
import { openSpa, signIn, signUp, signedInView, signedOutView } from '../helpers/spa-page.ts'

const TTL = 4
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

const spaPort = await freePort()
const spaOrigin = `http://127.0.0.1:${spaPort}`
const service = await startService(t, { ACCESS_TOKEN_TTL: String(TTL), REFRESH_REUSE_GRACE: '0', CORS_ORIGINS: spaOrigin })
const spa = await startSpa({ authBaseUrl: service.base, port: spaPort })
t.teardown(spa.close)
const browser = await launchChromium(t)

// A page on origins the service does not trust: http://localhost:<p> is another
// site; http://127.0.0.1:<p> is the same site (cookies are per host) but
// another origin, not in CORS_ORIGINS.
const foreign = createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>not the app</title><body><h1>some other page</h1></body>')
})
await new Promise<void>((resolve) => foreign.listen(0, resolve)) // dual stack: localhost may be ::1
t.teardown(() => new Promise((resolve) => { foreign.closeAllConnections(); foreign.close(resolve) }))
const foreignPort = (foreign.address() as { port: number }).port
const crossSite = `http://localhost:${foreignPort}`
const sameSiteOtherOrigin = `http://127.0.0.1:${foreignPort}`

/** Refresh requests a context makes, with their times. */
function watchRefreshes (context: BrowserContext): number[] {
  const times: number[] = []
  context.on('request', (req) => { if (req.method() === 'POST' && req.url() === `${service.base}/auth/refresh`) times.push(Date.now()) })
  return times
}

const open = (context: BrowserContext) => openSpa(context, spa.url)

t.test('1. after sign-in no page script can see the refresh token', async (t) => {
  const context = await browser.newContext()
  const page = await context.newPage()
  const bodies: Promise<string>[] = []
  page.on('response', (res) => { bodies.push(res.text().catch(() => '')) })
  await page.goto(spa.url)
  await page.locator('#signed-out').waitFor({ state: 'visible' })
  await page.screenshot({ path: screenshotPath('spa-signed-out') })
  const name = uniqueName('Tab')
  await signUp(page, name)
  await sleep(TTL * 1000) // let a silent refresh happen too: its answer is checked as well

  const cookies = await context.cookies(`${service.base}/auth/refresh`)
  const refresh = cookies.find((c) => c.name === 'refresh_token')
  t.ok(refresh !== undefined && refresh.value.length >= 40, 'the browser holds a refresh token')
  t.equal(refresh?.httpOnly, true)
  t.equal(refresh?.secure, true)
  t.equal(refresh?.sameSite, 'Strict')
  const token = refresh!.value

  const inPage = await page.evaluate(() => ({
    cookie: document.cookie,
    local: JSON.stringify(Object.entries(localStorage)),
    session: JSON.stringify(Object.entries(sessionStorage))
  }))
  t.match(inPage.cookie, /csrf_token=/, 'page scripts do see the CSRF cookie (positive control)')
  t.notMatch(inPage.cookie, token, 'not in document.cookie')
  t.notMatch(inPage.cookie, /refresh_token/)
  t.notMatch(inPage.local, token, 'not in localStorage')
  t.notMatch(inPage.session, token, 'not in sessionStorage')
  const seen = await Promise.all(bodies)
  t.ok(seen.some((b) => b.includes('access_token')), 'the token answers were captured (positive control)')
  t.notOk(seen.some((b) => b.includes(token)), `in none of ${seen.length} response bodies`)
  const older = seen.join('\n')
  t.notMatch(older, /refresh_token"/, 'no body has a refresh_token field at all')

  // Even a page of the service's own origin under /auth cannot read it.
  const own = await context.newPage()
  await own.goto(`${service.base}/auth/me`)
  t.notMatch(await own.evaluate(() => document.cookie), token, 'not readable on the service origin either')
  await context.close()
})

t.test('2. silent refresh past expiry, and a reload keeps the session', async (t) => {
  const context = await browser.newContext()
  const refreshes = watchRefreshes(context)
  const page = await open(context)
  const name = uniqueName('Silent')
  await signUp(page, name)
  await sleep(TTL * 2000 + 500) // two access-token lifetimes
  t.ok(refreshes.length >= 2, `the token was renewed in the background (${refreshes.length} refreshes)`)
  await page.click('#reload-message')
  await page.waitForFunction(() => document.getElementById('protected')?.textContent?.startsWith('Hello'))
  t.equal(await page.isHidden('#notice'), true, 'no error, no sign-in prompt: the user noticed nothing')
  // What the page itself shows (a timer refresh may be in flight right now, so not compared to the request count).
  t.ok(Number(await page.textContent('#refresh-count')) >= 2, 'the page renewed its token at least twice, silently')

  await page.reload()
  await signedInView(page, name)
  t.pass('after a reload the session is still there')
  await context.close()
})

t.test('3 and 4. two tabs: one refresh for both, no reuse; sign-out reaches the other tab', async (t) => {
  const context = await browser.newContext()
  const refreshes = watchRefreshes(context)
  const a = await open(context)
  const name = uniqueName('Tabs')
  await signUp(a, name)
  const b = await open(context)
  await signedInView(b, name)
  t.equal(refreshes.length, 0, 'the second tab took the first tab\'s access token: both expire at the same moment')

  await sleep(TTL * 2000 + 500)
  for (const page of [a, b]) {
    await page.click('#reload-message')
    await signedInView(page, name)
  }
  t.ok(refreshes.length >= 2, `tokens were renewed (${refreshes.length} refreshes)`)
  const gaps = refreshes.slice(1).map((time, i) => time - refreshes[i])
  t.ok(gaps.every((gap) => gap > 1000), `one refresh per expiry for both tabs, never two at once (gaps ${gaps.join(', ')} ms)`)
  t.equal(service.securityEvents('refresh_token_reused'), 0, 'the service recorded no refresh-token reuse')
  t.equal(await a.locator('#sessions tr').count(), 1, 'both tabs are one session')
  await a.screenshot({ path: screenshotPath('spa-signed-in') })

  await a.click('#sign-out')
  t.match(await signedOutView(a), /You signed out/)
  t.match(await signedOutView(b), /signed out in another tab/)
  await b.screenshot({ path: screenshotPath('spa-signed-out-other-tab') })
  await a.reload()
  t.match(await signedOutView(a), /^$/)
  await context.close()
})

t.test('4. ending a session, and signing out everywhere, reach another browser context', async (t) => {
  const laptop = await browser.newContext()
  const phone = await browser.newContext({ userAgent: 'Mozilla/5.0 (Linux; Android 15) Mobile Safari' })
  const name = uniqueName('Everywhere')
  const one = await open(laptop)
  await signUp(one, name)
  const two = await open(phone)
  await signIn(two, name)
  await one.click('#reload-message')
  await one.waitForFunction(() => document.querySelectorAll('#sessions tr').length === 2)
  await one.screenshot({ path: screenshotPath('spa-sessions') })

  // The laptop ends the phone's session from the list.
  await one.click('#sessions tr:not(:has(.current)) button')
  await one.waitForFunction(() => document.querySelectorAll('#sessions tr').length === 1)
  await two.click('#reload-message')
  t.match(await signedOutView(two), /session has ended/)

  // The phone signs in again; the laptop signs out everywhere.
  await signIn(two, name)
  const phoneRequests: string[] = []
  phone.on('request', (req) => { if (req.url().startsWith(service.base)) phoneRequests.push(`${req.method()} ${new URL(req.url()).pathname}`) })
  await one.click('#sign-out-everywhere')
  t.match(await signedOutView(one), /signed out everywhere/)
  await two.click('#reload-message')
  t.match(await signedOutView(two), /session has ended/)
  await two.screenshot({ path: screenshotPath('spa-session-ended') })
  await sleep(1500)
  t.equal(phoneRequests.filter((r) => r === 'POST /auth/refresh').length, 1, 'one refresh attempt found the session over: no loop')
  await laptop.close()
  await phone.close()
})

t.test('5. other origins cannot read the service, and a cross-site form cannot refresh or sign out', async (t) => {
  const context = await browser.newContext()
  const app = await open(context)
  const name = uniqueName('Victim')
  await signUp(app, name)
  const logoutsBefore = service.securityEvents('logout')
  const answers: string[] = [] // what the service answered the foreign pages (which they cannot read)

  for (const origin of [crossSite, sameSiteOtherOrigin]) {
    const evil = await context.newPage()
    evil.on('response', (res) => { if (res.url().startsWith(service.base)) answers.push(`${res.request().method()} ${new URL(res.url()).pathname} ${res.status()}`) })
    await evil.goto(origin)
    const reads = await evil.evaluate(async (api) => {
      const csrf = /csrf_token=([^;]+)/.exec(document.cookie)?.[1] ?? 'none'
      const tries: Array<[string, RequestInit]> = [
        ['/auth/me', { credentials: 'include' }],
        ['/auth/sessions', { credentials: 'include' }],
        ['/health/live', {}],
        ['/.well-known/jwks.json', {}],
        ['/auth/refresh', { method: 'POST', credentials: 'include' }],
        ['/auth/refresh', { method: 'POST', credentials: 'include', headers: { 'x-csrf-token': csrf } }],
        ['/auth/logout', { method: 'POST', credentials: 'include', headers: { 'x-csrf-token': csrf } }],
        ['/auth/logout', { method: 'POST', credentials: 'include' }]
      ]
      const out: string[] = []
      for (const [path, init] of tries) {
        try {
          const res = await fetch(api + path, init)
          out.push(`read ${path}: ${res.status}`)
        } catch {
          out.push('blocked')
        }
      }
      try {
        // Opaque at best (Chromium's ORB may block a JSON answer outright).
        const opaque = await fetch(api + '/auth/sessions', { mode: 'no-cors', credentials: 'include' })
        out.push(`no-cors: ${opaque.type} ${opaque.status} "${await opaque.text()}"`)
      } catch {
        out.push('blocked')
      }
      return out
    }, service.base)
    t.same(reads.slice(0, 8), Array(8).fill('blocked'), `${origin}: every CORS response unreadable`)
    t.match(reads[8], /^(blocked|no-cors: opaque 0 "")$/, `${origin}: a no-cors answer is opaque and empty (${reads[8]})`)

    // Forms: url-encoded and text/plain bodies that look like JSON.
    for (const [path, enctype] of [['/auth/refresh', 'application/x-www-form-urlencoded'], ['/auth/logout', 'application/x-www-form-urlencoded'], ['/auth/refresh', 'text/plain'], ['/auth/logout', 'text/plain']]) {
      await evil.goto(origin)
      await Promise.all([
        evil.waitForURL(`${service.base}${path}`),
        evil.evaluate(([action, type]) => {
          const form = document.createElement('form')
          form.method = 'POST'
          form.action = action
          form.enctype = type
          const input = document.createElement('input')
          input.name = '{"refresh_token":"x","pad":"'
          input.value = '"}'
          form.append(input)
          document.body.append(form)
          form.submit()
        }, [`${service.base}${path}`, enctype])
      ])
      const body = await evil.textContent('body')
      t.match(body, /"statusCode":(401|403|415)/, `${origin} form ${enctype} to ${path}: refused (${body?.slice(0, 80)})`)
    }
    await evil.close()
  }
  const changing = answers.filter((a) => /^POST \/auth\/(refresh|logout) /.test(a))
  t.ok(changing.length >= 8, `the service saw the foreign refresh and logout attempts (${changing.length})`)
  t.same(changing.filter((a) => !/ (401|403|415)$/.test(a)), [], `and refused every one: ${[...new Set(changing)].join(', ')}`)
  t.equal(service.securityEvents('logout'), logoutsBefore, 'the service recorded no logout')
  await sleep(TTL * 1000) // the app refreshes again: a foreign refresh would have made this a reuse
  t.equal(service.securityEvents('refresh_token_reused'), 0, 'no refresh token was spent behind the app\'s back')
  await app.click('#reload-message')
  await signedInView(app, name)
  t.equal(await app.isHidden('#notice'), true, 'the real app is still signed in, its session untouched')
  t.equal(await app.locator('#sessions tr').count(), 1)
  await context.close()
})
