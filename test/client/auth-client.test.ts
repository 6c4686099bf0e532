// The client library against the real service (PGlite, in-process store) over
// real HTTP: single-flight refresh, one signed-out event and no request after
// it, the retry of a lost refresh answer, tabs sharing one refresh.
import t from 'tap'
import * as OTPAuth from 'otpauth'
import { AuthError, createAuthClient, isMfaRequired, memoryStorage, type SignedOutReason } from '../../client/index.ts'
import { service } from '../helpers/client-service.ts'
import { GOOD_PASSWORD, uniqueName } from '../helpers/client.ts'

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

async function newUser (c: ReturnType<typeof createAuthClient>) {
  const name = uniqueName('Lib')
  await c.register(name, GOOD_PASSWORD)
  await c.login(name, GOOD_PASSWORD)
  return name
}

/** A signed-in user's app started again: a stored refresh token, no access token yet, no timer running. */
async function relaunched (s: Awaited<ReturnType<typeof service>>) {
  const storage = memoryStorage()
  await newUser(s.client({ storage }))
  const client = s.client({ storage })
  const signedOut: string[] = []
  client.on('signedOut', (e) => signedOut.push(e.reason))
  return { storage, client, signedOut }
}

t.test('single flight: many calls needing a refresh make one refresh request', async (t) => {
  const s = await service(t, {})
  const { client } = await relaunched(s) // ten calls at once at app start
  const users = await Promise.all(Array.from({ length: 10 }, () => client.me()))
  t.ok(users.every((u) => u.username === users[0].username && u.username !== undefined), 'every call answered')
  t.equal(s.count('POST /auth/refresh'), 1, 'ten callers, one refresh')
})

t.test('the access token is renewed shortly before it expires, without any call', async (t) => {
  const s = await service(t, { ACCESS_TOKEN_TTL: '2' })
  const c = s.client()
  const refreshed: string[] = []
  c.on('refreshed', (e) => refreshed.push(e.user.username))
  const name = await newUser(c)
  await sleep(2000) // renewed at 1.6 s (a fifth of the lifetime early); the next is due at 3.2 s
  t.equal(s.count('POST /auth/refresh'), 1, 'renewed once on its own')
  t.same(refreshed, [name], 'and said so')
  await c.me()
  t.equal(s.count('POST /auth/refresh'), 1, 'the next call needs no refresh')
})

t.test('a 401 TOKEN_EXPIRED in flight: one refresh, each call retried once', async (t) => {
  const s = await service(t, { ACCESS_TOKEN_TTL: '2' })
  const c = s.client({ refreshLeeway: 0 })
  await newUser(c)
  // The token is fresh when attached but expires on a slow network.
  let slow = true
  s.setTamper(async (path, forward) => {
    if (path === '/auth/me' && slow) await sleep(2100)
    return forward()
  })
  const before = s.count('POST /auth/refresh')
  const pending = Promise.all(Array.from({ length: 5 }, () => c.authFetch('/auth/me')))
  await sleep(1000)
  slow = false
  const responses = await pending
  t.same(responses.map((r) => r.status), [200, 200, 200, 200, 200], 'all five end in 200')
  t.equal(s.count('POST /auth/refresh') - before, 1, 'after one refresh')
  t.equal(s.count('GET /auth/me'), 10, 'each call sent twice: once expired, once refreshed')
})

t.test('a revoked session: one signed-out event, then no request at all', async (t) => {
  const s = await service(t, { REFRESH_REUSE_GRACE: '0' })
  const storage = memoryStorage()
  const c = s.client({ storage })
  const events: SignedOutReason[] = []
  c.on('signedOut', (e) => events.push(e.reason))
  await newUser(c)
  const stolen = await storage.get()
  // The thief refreshes first; the owner's token is now a spent one.
  const thief = await fetch(`${s.baseUrl}/auth/refresh`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-auth-mode': 'header' }, body: JSON.stringify({ refresh_token: stolen }) })
  t.equal(thief.status, 200)
  const owner = await fetch(`${s.baseUrl}/auth/refresh`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-auth-mode': 'header' }, body: JSON.stringify({ refresh_token: stolen }) })
  t.equal((await owner.json()).code, 'REFRESH_TOKEN_REUSED', 'the service caught the reuse and revoked the session')

  const sent = s.calls.length
  const results = await Promise.allSettled(Array.from({ length: 5 }, () => c.me()))
  t.ok(results.every((r) => r.status === 'rejected'), 'every call fails')
  t.same(events, ['INVALID_REFRESH_TOKEN'], 'exactly one signed-out event')
  t.equal(await storage.get(), null, 'the stored refresh token is gone')
  const made = s.calls.slice(sent)
  t.equal(made.filter((c) => c === 'GET /auth/me').length, 5, 'the five calls found the token revoked')
  t.equal(made.filter((c) => c === 'POST /auth/refresh').length, 1, 'one refresh found the session over, no second round')
  t.equal(c.signedIn, false)

  const after = s.calls.length
  const again = await c.me().catch((err) => err)
  t.ok(again instanceof AuthError && again.code === 'SIGNED_OUT', 'later calls fail at once')
  t.equal(s.calls.length, after, 'without any request')
  t.same(events, ['INVALID_REFRESH_TOKEN'], 'and without another event')
})

t.test('presenting a reused refresh token ends in a REFRESH_TOKEN_REUSED sign-out', async (t) => {
  const s = await service(t, { REFRESH_REUSE_GRACE: '0' })
  const storage = memoryStorage()
  await newUser(s.client({ storage }))
  const stolen = (await storage.get())!
  const thief = await fetch(`${s.baseUrl}/auth/refresh`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-auth-mode': 'header' }, body: JSON.stringify({ refresh_token: stolen }) })
  t.equal(thief.status, 200)
  // The owner's app starts again with the token the thief has already spent.
  const c = s.client({ storage: memoryStorage(stolen) })
  const events: SignedOutReason[] = []
  c.on('signedOut', (e) => events.push(e.reason))
  const before = s.count('POST /auth/refresh')
  const err = await c.me().catch((e) => e)
  t.equal(err.code, 'REFRESH_TOKEN_REUSED')
  t.same(events, ['REFRESH_TOKEN_REUSED'])
  t.equal(s.count('POST /auth/refresh') - before, 1, 'one refresh request, no retry loop')
  t.equal(s.count('GET /auth/me'), 0, 'and the call never went out')
})

t.test('a refresh answer lost in transit is retried with the same token', async (t) => {
  const s = await service(t, {})
  const { storage, client: c, signedOut: events } = await relaunched(s)
  let lose = 1
  s.setTamper(async (path, forward) => {
    const res = await forward() // the service did the rotation...
    if (path === '/auth/refresh' && lose-- > 0) throw new TypeError('fetch failed: socket hang up') // ...the answer never came
    return res
  })
  const user = await c.me()
  t.ok(user.username, 'the call succeeds after the retry')
  t.equal(s.count('POST /auth/refresh'), 2, 'one lost, one retried')
  const next = s.client({ storage })
  await next.me()
  t.equal(s.count('POST /auth/refresh'), 3, 'the stored (retried) token keeps working at the next start')
  t.same(events, [], 'never signed out')
})

t.test('a service outage on refresh is retried, then reported, without signing out', async (t) => {
  const s = await service(t, {})
  const { client: c, signedOut: events } = await relaunched(s)
  s.setTamper(async (path, forward) => path === '/auth/refresh'
    ? new Response(JSON.stringify({ statusCode: 503, code: 'SERVICE_UNAVAILABLE', message: 'down' }), { status: 503, headers: { 'content-type': 'application/json' } })
    : forward())
  const err = await c.me().catch((e) => e)
  t.equal(err.code, 'SERVICE_UNAVAILABLE')
  t.equal(s.count('POST /auth/refresh'), 4, 'the first try and three retries, then it stops')
  t.same(events, [])
  s.setTamper(undefined)
  t.ok((await c.me()).username, 'works again once the service is back')
})

t.test('tabs share one refresh and one sign-out', async (t) => {
  const s = await service(t, { ACCESS_TOKEN_TTL: '2', REFRESH_REUSE_GRACE: '0' })
  const shared = memoryStorage() // stands in for the cookie jar the tabs of a browser share
  const channel = `tabs-${uniqueName()}`
  const a = s.client({ storage: shared, tabs: channel })
  const b = s.client({ storage: shared, tabs: channel })
  const bEvents: string[] = []
  b.on('signedIn', (e) => bEvents.push(`in:${e.user.username}`))
  b.on('signedOut', (e) => bEvents.push(`out:${e.reason}`))
  const name = await newUser(a)
  t.equal(await b.restore().then((u) => u?.username), name, 'the second tab takes the first tab\'s token')
  t.equal(s.count('POST /auth/refresh'), 0, 'without a refresh')
  t.same(bEvents, [`in:${name}`])

  await sleep(2100) // both tabs' token expired at the same moment (it is the same token)
  const [ua, ub] = await Promise.all([a.me(), b.me()])
  t.equal(ua.username, name)
  t.equal(ub.username, name)
  t.equal(s.count('POST /auth/refresh'), 1, 'one refresh for both tabs (a race would be a reuse with no grace)')

  await a.logout()
  t.ok(await waitUntil(() => bEvents.length === 2), 'the other tab hears of the sign-out')
  t.same(bEvents, [`in:${name}`, 'out:other-tab'])
  t.equal(b.signedIn, false)
})

t.test('authFetch never sends the access token to another origin', async (t) => {
  const s = await service(t, {})
  const c = s.client({ apiOrigins: ['https://api.example.test'] })
  await newUser(c)
  const sent = s.calls.length
  const err = await c.authFetch('https://evil.example.test/steal').catch((e) => e)
  t.equal(err.code, 'FOREIGN_ORIGIN')
  t.equal(s.calls.length, sent, 'nothing was sent')
})

async function waitUntil (check: () => boolean, ms = 2000): Promise<boolean> {
  const end = Date.now() + ms
  while (Date.now() < end) {
    if (check()) return true
    await sleep(10)
  }
  return check()
}

t.test('a TOTP user: login resolves an MfaRequired step; a wrong code can be retried; the right one signs in', async (t) => {
  const s = await service(t, {})
  const c = s.client()
  const name = await newUser(c)
  const { secret } = await c.enrollTotp()
  const totp = new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(secret), digits: 6, period: 30, algorithm: 'SHA1' })
  const codes = await c.confirmTotp(totp.generate())
  t.equal(codes.length, 10)
  t.same(await c.mfaStatus(), { totp: true, recovery_codes_left: 10, passkeys: 0 })

  const other = s.client()
  const events: string[] = []
  other.on('signedIn', () => events.push('signedIn'))
  const result = await other.login(name, GOOD_PASSWORD)
  t.ok(isMfaRequired(result), 'a second step, not a user')
  if (!isMfaRequired(result)) return
  t.same(result.methods, ['totp', 'recovery_code'])
  t.equal(other.signedIn, false)
  t.same(events, [], 'no signedIn event before the second step')
  const wrong = await result.complete(totp.generate() === '000000' ? '111111' : '000000').catch((err) => err)
  t.ok(wrong instanceof AuthError && wrong.code === 'MFA_CODE_INVALID', 'a wrong code rejects with MFA_CODE_INVALID')
  const user = await result.complete(` ${codes[0]} `)
  t.equal(user.username, name, 'a recovery code completes it (spaces trimmed)')
  t.equal(other.signedIn, true)
  t.same(events, ['signedIn'])
  t.same((await other.sessions()).find((x) => x.current)?.amr, ['pwd', 'otp'])

  await other.changePassword(GOOD_PASSWORD, 'the library changed this passphrase')
  t.equal((await other.me()).username, name, 'the session that changed the password stays')
  t.equal(await c.me().then(() => 'kept', (err) => err.code), 'INVALID_REFRESH_TOKEN', "the user's other session is refused, and its refresh too")
  t.equal(c.signedIn, false, 'so that client is signed out')
  await other.disableTotp(codes[1])
  t.equal((await other.mfaStatus()).totp, false)
  t.equal(await other.signInWithPasskey().catch((err) => err.code), 'WEBAUTHN_UNAVAILABLE', 'passkeys say clearly that they need a browser')
})
