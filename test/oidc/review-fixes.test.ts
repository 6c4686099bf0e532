// What an outside review of sign-in with a provider found, each case as it
// was shown: concurrent unlinks, a Unicode address, a re-encoded ID token,
// the app's own PKCE for the login_code, pending sign-ins of an unlinked
// identity or an ended provider session, and the callback's query in logs.
import t from 'tap'
import { createHash, randomBytes, randomUUID } from 'node:crypto'
import { Writable } from 'node:stream'
import type { FastifyInstance } from 'fastify'
import { backends, buildApp } from '../helpers/app.ts'
import { Client } from '../helpers/client.ts'
import { PersonBrowser, SPA, oidcApp, pathOf, signInThrough } from '../helpers/oidc.ts'
import type { Idp } from '../helpers/oidc-provider.ts'
import { loggerOptions } from '../../src/server-options.ts'

const EVENT = 'http://schemas.openid.net/event/backchannel-logout'
const now = () => Math.floor(Date.now() / 1000)

async function exchange (app: FastifyInstance, code: string | null, verifier?: string) {
  return await app.inject({ method: 'POST', url: '/auth/oidc/exchange', payload: { login_code: code, ...(verifier !== undefined ? { code_verifier: verifier } : {}) } })
}

/** A header-mode session through the provider as `sub`. */
async function federated (app: FastifyInstance, idp: Idp, sub: string) {
  const { fragment } = await signInThrough(app, idp, sub, { mode: 'header' })
  const res = await exchange(app, fragment.get('login_code'))
  const c = new Client(app, 'header')
  c.accessToken = res.json().access_token
  return { c, userId: res.json().user.id as string }
}

/** Links `sub` to the user of `c` (cookie-bound browser, as the SPA does). */
async function link (app: FastifyInstance, idp: Idp, c: Client, sub: string) {
  const browser = new PersonBrowser()
  const asked = await c.request('POST', '/auth/oidc/corp/link', { body: { return_to: `${SPA}/s` } })
  browser.absorb(asked)
  const back = await browser.get(app, pathOf(await idp.authorize(asked.json().url, sub, { browser: browser.at(idp) })))
  if (!String(back.headers.location).endsWith('#linked=corp')) throw new Error(`link failed: ${back.headers.location}`)
}

for (const backend of backends) {
  t.test(`${backend}: unlinks at once never leave an account with no way in`, async (t) => {
    const { app, idp } = await oidcApp(t, backend)
    for (let round = 0; round < 5; round++) {
      const { c, userId } = await federated(app, idp, `cu-${round}-a`)
      await link(app, idp, c, `cu-${round}-b`)
      await link(app, idp, c, `cu-${round}-c`)
      const ids = (await c.request('GET', '/auth/identities')).json().map((i: { id: string }) => i.id)
      t.equal(ids.length, 3)
      const answers = await Promise.all(ids.map((id: string) => c.request('DELETE', `/auth/identities/${id}`)))
      t.same(answers.map((r) => r.statusCode).sort(), [204, 204, 409], `round ${round}: one stays`)
      t.equal(await app.prisma.identity.count({ where: { userId } }), 1)
    }
  })

  t.test(`${backend}: a non-ASCII address never links to an ASCII one (U+212A KELVIN SIGN)`, async (t) => {
    const { app, idp } = await oidcApp(t, backend, { specs: [{ name: 'corp', trustEmail: true }] })
    idp.accounts.set('kv-victim', { sub: 'kv-victim', email: 'kate@corp.test', email_verified: true })
    idp.accounts.set('kv-attacker', { sub: 'kv-attacker', email: '\u212Aate@corp.test', email_verified: true })
    const victim = await federated(app, idp, 'kv-victim')
    const attacker = await federated(app, idp, 'kv-attacker')
    t.not(attacker.userId, victim.userId, 'another account')
    const made = await app.prisma.user.findUniqueOrThrow({ where: { id: attacker.userId } })
    t.equal(made.verifiedEmailKey, null, 'and the address is not kept as verified')
  })

  t.test(`${backend}: an ID token signs in once, however it is re-encoded`, async (t) => {
    const { app, idp } = await oidcApp(t, backend)
    const token = await idp.sign({ iss: idp.issuer, aud: 'auth-service', sub: 'reenc', iat: now(), exp: now() + 300 })
    const post = (id: string) => app.inject({ method: 'POST', url: '/auth/oidc/corp/id-token', payload: { id_token: id } })
    t.equal((await post(token)).statusCode, 200)
    const last = token.at(-1)!
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
    const flipped = (bit: number) => token.slice(0, -1) + alphabet[alphabet.indexOf(last) ^ bit]
    for (const variant of [token, flipped(1), flipped(2), `${token} `, `${token}=`]) {
      const res = await post(variant)
      t.equal(res.statusCode, 401, JSON.stringify(variant.slice(-3)))
      t.equal(res.json().code, 'OIDC_ID_TOKEN_INVALID')
    }
    const future = await idp.sign({ iss: idp.issuer, aud: 'auth-service', sub: 'reenc', iat: now() + 86400, exp: now() + 90000 })
    t.equal((await post(future)).statusCode, 401, 'iat in the future')
    const ancient = await idp.sign({ iss: idp.issuer, aud: 'auth-service', sub: 'reenc', iat: now() - 86400 * 365, exp: now() + 86400 * 3650 })
    t.equal((await post(ancient)).statusCode, 401, 'iat a year old')
  })

  t.test(`${backend}: the app's own PKCE binds the login_code to the app that started`, async (t) => {
    const { app, idp } = await oidcApp(t, backend)
    const verifier = randomBytes(32).toString('base64url')
    const challenge = createHash('sha256').update(verifier).digest('base64url')
    const browser = new PersonBrowser()
    const q = new URLSearchParams({ return_to: 'com.example.app:/cb', mode: 'header', code_challenge: challenge, code_challenge_method: 'S256' })
    const start = await browser.get(app, `/auth/oidc/corp/start?${q}`)
    t.equal(start.statusCode, 302)
    const back = await browser.get(app, pathOf(await idp.authorize(String(start.headers.location), 'pk-1', { browser: browser.at(idp) })))
    const code = new URLSearchParams(String(back.headers.location).split('#')[1]).get('login_code')
    t.equal((await exchange(app, code)).json().code, 'OIDC_LOGIN_CODE_INVALID', 'no verifier: refused')
    t.equal((await exchange(app, code, randomBytes(32).toString('base64url'))).json().code, 'OIDC_LOGIN_CODE_INVALID', 'another app\'s verifier: refused')
    t.equal((await exchange(app, code, verifier)).statusCode, 200, 'the app that started it: a wrong verifier spent nothing')
    const noMethod = await app.inject(`/auth/oidc/corp/start?mode=header&code_challenge=${challenge}`)
    t.equal(noMethod.statusCode, 400, 'a challenge names its method')
    t.equal((await app.inject('/auth/oidc/corp/start?mode=header&code_challenge=short&code_challenge_method=S256')).statusCode, 400)
  })

  t.test(`${backend}: pending sign-ins end with their identity or their provider session`, async (t) => {
    const { app, idp } = await oidcApp(t, backend)
    // Unlinked while its login_code waits: the code is refused, nothing half-opened.
    const { c } = await federated(app, idp, 'pend-a')
    await link(app, idp, c, 'pend-b')
    const pending = (await signInThrough(app, idp, 'pend-b', { mode: 'header' })).fragment.get('login_code')
    const b = (await c.request('GET', '/auth/identities')).json().find((i: { email: string | null, provider: string, id: string }, n: number) => n === 1)
    t.equal((await c.request('DELETE', `/auth/identities/${b.id}`)).statusCode, 204)
    const late = await exchange(app, pending)
    t.equal(late.statusCode, 400)
    t.equal(late.json().code, 'OIDC_LOGIN_CODE_INVALID')

    // The provider ends its session while a login_code of it waits.
    const waiting = (await signInThrough(app, idp, 'pend-c', { mode: 'header' })).fragment.get('login_code')
    const token = await idp.sign({ iss: idp.issuer, aud: 'auth-service', sub: 'pend-c', iat: now(), jti: randomUUID(), events: { [EVENT]: {} } }, { typ: 'logout+jwt' })
    const logout = await app.inject({ method: 'POST', url: '/auth/oidc/corp/backchannel-logout', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: new URLSearchParams({ logout_token: token }).toString() })
    t.equal(logout.statusCode, 200)
    t.equal((await exchange(app, waiting)).json().code, 'OIDC_LOGIN_CODE_INVALID', 'no session opens for a provider session that ended')
  })

  t.test(`${backend}: a callback of another browser or provider path burns nothing`, async (t) => {
    const { app, idp } = await oidcApp(t, backend)
    const owner = new PersonBrowser()
    const start = await owner.get(app, `/auth/oidc/corp/start?return_to=${encodeURIComponent(`${SPA}/x`)}`)
    const cb = await idp.authorize(String(start.headers.location), 'burn-1', { browser: owner.at(idp) })
    const stranger = await new PersonBrowser().get(app, pathOf(cb))
    t.match(String(stranger.headers.location), /#error=OIDC_STATE_INVALID$/)
    const ok = await owner.get(app, pathOf(cb))
    t.match(String(ok.headers.location), /#csrf_token=/, 'the browser that started it still signs in')
  })
}

t.test('the callback\'s code and state never reach a log line, even at debug', async (t) => {
  const lines: string[] = []
  const stream = new Writable({ write (chunk, _enc, done) { lines.push(chunk.toString()); done() } })
  const built = await oidcApp(t, 'embedded', { env: { LOG_LEVEL: 'debug' } })
  const app = (await buildApp(t, { backend: 'embedded', env: { ...built.env, LOG_LEVEL: 'debug' }, logger: { ...loggerOptions({ logLevel: 'debug' }), stream } })).app
  const { callbackUrl } = await signInThrough(app, built.idp, 'log-1')
  const code = new URL(callbackUrl).searchParams.get('code')!
  t.ok(lines.some((l) => l.includes('/auth/oidc/corp/callback?[redacted]')), 'the callback is logged, without its query')
  t.notOk(lines.some((l) => l.includes(code)), 'the code is in no line')
})
