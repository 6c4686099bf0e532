// The client library never signs a user out by mistake, and binds sessions to
// a DPoP key: against the real service over real HTTP, with a device clock
// hours off, a 429, a refresh answer that stalls, and a refresh lock held by
// a frozen tab.
import t from 'tap'
import { memoryKeyStore, memoryStorage, type SignedOutReason } from '../../client/index.ts'
import { service, stall } from '../helpers/client-service.ts'
import { GOOD_PASSWORD, uniqueName } from '../helpers/client.ts'

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

async function signUp (c: { register: (u: string, p: string) => Promise<unknown>, login: (u: string, p: string) => Promise<unknown> }) {
  const name = uniqueName('Rob')
  await c.register(name, GOOD_PASSWORD)
  await c.login(name, GOOD_PASSWORD)
  return name
}

const rawRefresh = (baseUrl: string, token: string) => fetch(`${baseUrl}/auth/refresh`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-auth-mode': 'header' }, body: JSON.stringify({ refresh_token: token }) })

t.test('DPoP is on by default: the session is bound, and its stolen refresh token is worthless', async (t) => {
  const s = await service(t, {})
  const storage = memoryStorage()
  const keys = memoryKeyStore()
  const c = s.client({ storage, dpop: keys })
  const events: SignedOutReason[] = []
  c.on('signedOut', (e) => events.push(e.reason))
  await signUp(c)
  const pair = await keys.load()
  t.ok(pair, 'a key pair was made and kept')
  const stolen = (await storage.get())!
  const thief = await rawRefresh(s.baseUrl, stolen)
  t.equal(thief.status, 401)
  t.equal((await thief.json()).code, 'DPOP_PROOF_INVALID', 'the thief has the token, not the key')
  t.ok((await c.me()).username, 'the owner goes on')
  // The app started again: same stored token, same key store.
  const again = s.client({ storage, dpop: keys })
  t.ok((await again.me()).username, 'a restart refreshes with the kept key')
  t.equal(s.count('POST /auth/refresh'), 1)
  t.same(events, [])

  const plain = s.client()
  await signUp(plain)
  const res = await plain.authFetch('/auth/sessions')
  t.equal(res.status, 200, 'a client with no options binds too (a key in memory) and calls with DPoP')
})

for (const [label, skewMs] of [['hours ahead', 3 * 3600_000], ['hours behind', -3 * 3600_000]] as const) {
  t.test(`a device clock ${label}: no refresh loop, no early expiry, proofs on the service's clock`, async (t) => {
    const s = await service(t, { ACCESS_TOKEN_TTL: '4' })
    const c = s.client({ now: () => Date.now() + skewMs })
    const events: SignedOutReason[] = []
    c.on('signedOut', (e) => events.push(e.reason))
    await signUp(c)
    t.equal(c.signedIn, true, 'signed in (the first proof, on the device clock, was sent again on the service\'s)')
    await c.me()
    t.equal(s.count('POST /auth/refresh'), 0, 'a fresh token is not taken for an expired one')
    await sleep(4500) // renewed once at 3.2 s; the next is due at 6.4 s
    t.equal(s.count('POST /auth/refresh'), 1, 'renewed once, when due: no loop')
    t.ok((await c.me()).username)
    t.same(events, [])
  })
}

t.test('a 429 on refresh waits for Retry-After, then refreshes; no sign-out', async (t) => {
  const s = await service(t, {})
  const storage = memoryStorage()
  await signUp(s.client({ storage }))
  const c = s.client({ storage })
  const events: SignedOutReason[] = []
  c.on('signedOut', (e) => events.push(e.reason))
  let limited = 1
  const sent: number[] = []
  s.setTamper(async (path, forward) => {
    if (path !== '/auth/refresh') return await forward()
    sent.push(Date.now())
    if (limited-- > 0) return new Response(JSON.stringify({ statusCode: 429, code: 'TOO_MANY_REQUESTS', message: 'slow down' }), { status: 429, headers: { 'content-type': 'application/json', 'retry-after': '1' } })
    return await forward()
  })
  t.ok((await c.me()).username, 'the call succeeds')
  t.equal(sent.length, 2)
  t.ok(sent[1] - sent[0] >= 950, `the second try waited for Retry-After (${sent[1] - sent[0]} ms)`)
  t.same(events, [])
})

t.test('a stalled refresh answer: sent again inside the grace window, never after it', async (t) => {
  const s = await service(t, { REFRESH_REUSE_GRACE: '3' })
  const storage = memoryStorage()
  await signUp(s.client({ storage }))
  const opts = { storage, refreshGrace: 3, refreshTimeout: 400, retryDelays: [100, 100, 100, 100, 100, 100, 100, 100] }

  t.test('the first answer stalls: the resend gets the same successor', async (t) => {
    const c = s.client(opts)
    const events: SignedOutReason[] = []
    c.on('signedOut', (e) => events.push(e.reason))
    let stalls = 1
    const sent: number[] = []
    s.setTamper(async (path, forward, signal) => {
      if (path !== '/auth/refresh') return await forward()
      sent.push(Date.now())
      const res = await forward() // the service rotates...
      if (stalls-- > 0) await stall(5000, signal) // ...and its answer hangs
      return res
    })
    t.ok((await c.me()).username, 'signed in after the resend')
    t.equal(sent.length, 2)
    t.ok(sent[1] - sent[0] < 1000, 'resent after the attempt timeout, well inside the grace window')
    s.setTamper(undefined)
    t.ok((await s.client({ storage }).me()).username, 'the stored successor works')
    t.same(events, [])
  })

  t.test('every answer stalls: resends stop at the budget, the error is reported, the session kept', async (t) => {
    const c = s.client(opts)
    const events: SignedOutReason[] = []
    c.on('signedOut', (e) => events.push(e.reason))
    const sent: number[] = []
    s.setTamper(async (path, forward, signal) => {
      if (path !== '/auth/refresh') return await forward()
      sent.push(Date.now())
      const res = await forward()
      await stall(5000, signal)
      return res
    })
    const err = await c.me().catch((e) => e)
    t.equal(err.code, 'TIMEOUT')
    t.ok(sent.length >= 2, `${sent.length} sends`)
    t.ok(sent.every((at) => at - sent[0] < 1000), 'every resend started inside the budget (grace 3 s less 2 s)')
    t.same(events, [], 'not signed out')
    t.equal(await storage.get() !== null, true, 'the refresh token is kept')
    s.setTamper(undefined)
  })
})

t.test('a refresh lock held by a frozen tab: taken after lockWait, and the refresh goes through', async (t) => {
  const locks = (globalThis as unknown as { navigator: { locks: { request: (name: string, cb: () => Promise<void>) => Promise<void> } } }).navigator.locks
  const s = await service(t, {})
  const storage = memoryStorage()
  await signUp(s.client({ storage }))
  const channel = `frozen-${uniqueName()}`
  // A tab that took the lock and will never let go (crashed, or frozen in the background).
  await new Promise<void>((resolve) => {
    locks.request(`${channel}:refresh`, () => { resolve(); return new Promise<void>(() => {}) })
      .catch(() => {}) // rejected when the lock is stolen from it
  })
  const c = s.client({ storage, tabs: channel, lockWait: 500 })
  const started = Date.now()
  t.ok((await c.me()).username, 'the call succeeds')
  const waited = Date.now() - started
  t.ok(waited >= 450 && waited < 5000, `after waiting for the lock about lockWait (${waited} ms)`)
  t.equal(s.count('POST /auth/refresh'), 1)
})

t.test('DPOP_NONCE=on: the library sends the nonce the service asks for, once, and goes on', async (t) => {
  const s = await service(t, { DPOP_NONCE: 'on' })
  const c = s.client()
  await signUp(c)
  t.equal(c.signedIn, true)
  t.equal(s.count('POST /auth/login'), 2, 'the login was answered USE_DPOP_NONCE once, then sent with the nonce')
  t.ok((await c.me()).username, 'calls carry the nonce')
  t.equal(s.count('GET /auth/me'), 1, 'without another round trip')
})

t.test('cookie mode where the browser keeps no cookie (third-party cookies blocked): one clear sign-out', async (t) => {
  // fetch outside a browser keeps no cookies at all: what a browser blocking them does to a cross-site SPA.
  const s = await service(t, { ACCESS_TOKEN_TTL: '2' })
  const c = s.client({ mode: 'cookie' })
  const events: SignedOutReason[] = []
  c.on('signedOut', (e) => events.push(e.reason))
  await signUp(c)
  t.equal((await c.authFetch('/auth/me')).status, 200, 'the first access token works')
  await sleep(2500) // the renewal at 1.6 s finds no cookie
  t.same(events, ['COOKIES_BLOCKED'], 'signed out once, saying why')
  t.equal(s.count('POST /auth/refresh'), 1, 'one refresh, no loop')
  const err = await c.me().catch((e) => e)
  t.equal(err.code, 'SIGNED_OUT')
})
