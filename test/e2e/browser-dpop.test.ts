// The SPA example in Debian's Chromium with DPoP on (the client library's
// default): the session is bound to a key pair the page can sign with but
// never read, kept in IndexedDB across a reload and shared by two tabs; and
// the same SPA served from another site (COOKIE_SAMESITE=None, Partitioned
// cookies, the CSRF value from the answers) signs in, survives expiry and a
// reload, and signs out.
import t from 'tap'
import type { BrowserContext, Page } from 'playwright-core'
import { startSpa } from '../../examples/spa/server.ts'
import { launchChromium, screenshotPath, startService } from '../helpers/e2e.ts'
import { freePort } from '../helpers/servers.ts'
import { uniqueName } from '../helpers/client.ts'
import { openSpa, signUp, signedInView } from '../helpers/spa-page.ts'

const TTL = 4
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const browser = await launchChromium(t)

interface Seen { refreshes: number, dpopOnTokenCalls: number, tokenCalls: number, meSchemes: Set<string>, tokenTypes: Set<string> }
// meSchemes: the Authorization scheme of the SPA's calls (GET /auth/protected and /auth/sessions).

/** What a context sends to the service: proofs on login and refresh, the scheme on /auth/me, the token_type answered. */
function watch (context: BrowserContext, base: string): Seen {
  const seen: Seen = { refreshes: 0, dpopOnTokenCalls: 0, tokenCalls: 0, meSchemes: new Set(), tokenTypes: new Set() }
  context.on('request', (req) => {
    const url = req.url()
    if (req.method() === 'POST' && (url === `${base}/auth/login` || url === `${base}/auth/refresh` || url === `${base}/auth/register`)) {
      if (url.endsWith('/refresh')) seen.refreshes++
      if (!url.endsWith('/register')) {
        seen.tokenCalls++
        if (req.headers().dpop !== undefined) seen.dpopOnTokenCalls++
      }
    }
    if (req.method() === 'GET' && (url === `${base}/auth/protected` || url === `${base}/auth/sessions`)) seen.meSchemes.add((req.headers().authorization ?? '').split(' ')[0])
  })
  context.on('response', async (res) => {
    const url = res.url()
    if (res.request().method() === 'POST' && (url === `${base}/auth/login` || url === `${base}/auth/refresh`) && res.status() === 200) {
      try { seen.tokenTypes.add((await res.json()).token_type) } catch {}
    }
  })
  return seen
}

/** The key pair as page scripts find it in IndexedDB, and what they can do with it. */
function inspectKey (page: Page, dbName: string) {
  return page.evaluate(async (name) => {
    const db = await new Promise<IDBDatabase>((resolve, reject) => {
      const req = indexedDB.open(name)
      req.onsuccess = () => resolve(req.result)
      req.onerror = () => reject(req.error)
    })
    const pair = await new Promise<CryptoKeyPair | undefined>((resolve, reject) => {
      const req = db.transaction('keys').objectStore('keys').get('pair')
      req.onsuccess = () => resolve(req.result)
      req.onerror = () => reject(req.error)
    })
    db.close()
    if (pair === undefined) return { found: false }
    let exported = 'refused'
    for (const format of ['jwk', 'pkcs8'] as const) {
      try { await crypto.subtle.exportKey(format, pair.privateKey); exported = format } catch {}
    }
    return {
      found: true,
      type: pair.privateKey.type,
      algorithm: (pair.privateKey.algorithm as EcKeyAlgorithm).namedCurve,
      extractable: pair.privateKey.extractable,
      exported,
      storage: JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }) + document.cookie
    }
  }, dbName)
}

t.test('DPoP in the SPA: a non-extractable key in IndexedDB, two tabs, a reload', async (t) => {
  const spaPort = await freePort()
  const spaOrigin = `http://127.0.0.1:${spaPort}`
  const service = await startService(t, { ACCESS_TOKEN_TTL: String(TTL), REFRESH_REUSE_GRACE: '0', CORS_ORIGINS: spaOrigin })
  const spa = await startSpa({ authBaseUrl: service.base, port: spaPort })
  t.teardown(spa.close)
  const context = await browser.newContext()
  const seen = watch(context, service.base)
  const a = await openSpa(context, spa.url)
  const name = uniqueName('Dpop')
  await signUp(a, name)
  t.same([...seen.tokenTypes], ['DPoP'], 'the session is bound: token_type DPoP')
  t.ok(seen.tokenCalls > 0 && seen.dpopOnTokenCalls === seen.tokenCalls, 'every login and refresh carried a proof')
  t.same([...seen.meSchemes], ['DPoP'], 'calls use the DPoP scheme')

  const key = await inspectKey(a, `auth-client-dpop:${service.base}/`)
  t.equal(key.found, true, 'the key pair is in IndexedDB')
  t.equal(key.type, 'private')
  t.equal(key.algorithm, 'P-256')
  t.equal(key.extractable, false, 'the private key is not extractable')
  t.equal(key.exported, 'refused', 'page scripts cannot export it in any format')
  t.notMatch(key.storage ?? '', /"d":|PRIVATE KEY/, 'no key material in localStorage, sessionStorage or cookies')

  const b = await openSpa(context, spa.url)
  await signedInView(b, name)
  await sleep(TTL * 2000 + 500)
  for (const page of [a, b]) {
    await page.click('#reload-message')
    await signedInView(page, name)
  }
  t.ok(seen.refreshes >= 2, `tokens were renewed with proofs (${seen.refreshes} refreshes)`)
  t.equal(service.securityEvents('refresh_token_reused'), 0, 'one refresh per expiry for both tabs')

  await a.reload()
  await signedInView(a, name)
  t.pass('a reload keeps the session: the key came back from IndexedDB')
  t.equal(seen.dpopOnTokenCalls, seen.tokenCalls, 'and the refresh after it carried a proof too')

  // A thief with the refresh cookie and the CSRF value, but not the key.
  const cookies = await context.cookies(`${service.base}/auth/refresh`)
  const jar = cookies.filter((c) => c.name === 'refresh_token' || c.name === 'csrf_token').map((c) => `${c.name}=${c.value}`).join('; ')
  const csrf = cookies.find((c) => c.name === 'csrf_token')!.value
  const thief = await fetch(`${service.base}/auth/refresh`, { method: 'POST', headers: { cookie: jar, 'x-csrf-token': csrf } })
  const answer = await thief.text()
  t.equal(thief.status, 401, answer)
  t.equal(JSON.parse(answer).code, 'DPOP_PROOF_INVALID', 'the stolen cookie is worthless without the key')
  await a.click('#reload-message')
  await signedInView(a, name)
  t.pass('and the user noticed nothing')
  await a.screenshot({ path: screenshotPath('spa-dpop-signed-in') })

  await a.click('#sign-out')
  await a.locator('#signed-out').waitFor({ state: 'visible' })
  await b.locator('#signed-out').waitFor({ state: 'visible' })
  t.equal((await inspectKey(a, `auth-client-dpop:${service.base}/`)).found, false, 'signing out forgets the key: the next session gets a new one')
  await context.close()
})

t.test('a SPA on another site: SameSite=None, Partitioned cookies, the CSRF value from the answers', async (t) => {
  const spaPort = await freePort()
  // localhost and 127.0.0.1 are different sites: every call of the SPA to the service is cross-site.
  const spaOrigin = `http://localhost:${spaPort}`
  const service = await startService(t, { ACCESS_TOKEN_TTL: String(TTL), CORS_ORIGINS: spaOrigin, COOKIE_SAMESITE: 'None' })
  const spa = await startSpa({ authBaseUrl: service.base, port: spaPort, host: 'localhost' })
  t.teardown(spa.close)
  const context = await browser.newContext()
  const seen = watch(context, service.base)
  const page = await openSpa(context, `${spaOrigin}/`)
  const name = uniqueName('Cross')
  await signUp(page, name)
  t.same([...seen.tokenTypes], ['DPoP'], 'signed in, bound to the page\'s key')
  t.notMatch(await page.evaluate(() => document.cookie), /csrf_token/, 'the page cannot read the service\'s cookies')
  const refreshCookie = (await context.cookies(`${service.base}/auth/refresh`)).find((c) => c.name === 'refresh_token')
  t.equal(refreshCookie?.sameSite, 'None')
  t.equal(refreshCookie?.secure, true)
  t.match(refreshCookie?.partitionKey ?? '', /localhost/, `kept in the SPA site's partition (${refreshCookie?.partitionKey})`)

  await sleep(TTL * 1000 + 500)
  await page.click('#reload-message')
  await signedInView(page, name)
  t.ok(seen.refreshes >= 1, `survived expiry: refreshed across sites (${seen.refreshes})`)

  await page.reload()
  await signedInView(page, name)
  t.pass('a reload keeps the session (the partitioned cookie, the kept CSRF value, the key in IndexedDB)')
  await page.screenshot({ path: screenshotPath('spa-cross-site-signed-in') })

  await page.click('#sign-out')
  await page.locator('#signed-out').waitFor({ state: 'visible' })
  await page.reload()
  await page.locator('#signed-out').waitFor({ state: 'visible' })
  t.pass('signed out, and still after a reload')
  await context.close()
})
