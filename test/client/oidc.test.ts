// The client library signing in with an OpenID Connect provider, against the
// real service and a real provider (oidc-provider) over HTTP: startOidc's
// URL, completeOidc in cookie mode (the callback's cookies, then a refresh)
// and header mode (the login_code exchanged with a DPoP proof), the second
// step for a user with TOTP, a refusal at the provider, a login_code this tab
// never asked for, the ID token of a native app, and linking and unlinking
// with step-up.
import t from 'tap'
import * as OTPAuth from 'otpauth'
import { AuthError, isMfaRequired, memoryStorage, type LoginResult, type MfaRequired, type ReauthReason, type User } from '../../client/index.ts'
import { oidcService } from '../helpers/oidc-client-service.ts'
import { SPA } from '../helpers/oidc.ts'
import { GOOD_PASSWORD, uniqueName } from '../helpers/client.ts'

const RETURN_TO = `${SPA}/app`

const asUser = (result: unknown): User => {
  if (result === null || isMfaRequired(result as LoginResult) || 'linked' in (result as object)) throw new Error(`not signed in: ${JSON.stringify(result)}`)
  return result as User
}

async function rejection (p: Promise<unknown>): Promise<AuthError> {
  try { await p } catch (err) { if (err instanceof AuthError) return err; throw err }
  throw new Error('resolved; a rejection was expected')
}

t.test('cookie mode: start, the provider, back with the cookies; completeOidc refreshes and signs in', async (t) => {
  const s = await oidcService(t)
  s.idp.accounts.set('alice-1', { sub: 'alice-1', email: 'alice@corp.test', email_verified: true, preferred_username: 'alice' })
  const alice = s.person()
  const auth = alice.client()
  t.same(await auth.oidcProviders(), [{ name: 'corp', label: 'corp SSO' }], 'a button each')

  const start = await auth.startOidc('corp', { returnTo: RETURN_TO })
  t.match(start, new RegExp(`^${s.publicUrl}/auth/oidc/corp/start\\?return_to=${encodeURIComponent(RETURN_TO)}&mode=cookie&code_challenge=[A-Za-z0-9_-]{43}&code_challenge_method=S256$`), 'no window here: only the URL, in the client\'s mode')
  const back = await alice.roundTrip(start, 'alice-1')
  t.match(back, new RegExp(`^${RETURN_TO}#csrf_token=`))
  const signedIn: string[] = []
  auth.on('signedIn', (e) => signedIn.push(e.user.username))
  const user = asUser(await auth.completeOidc(back))
  t.equal(user.username, 'alice')
  t.same(signedIn, ['alice'], 'one signedIn event')
  t.equal(s.count('POST /auth/refresh'), 1, 'the session the callback opened, picked up by one refresh')
  t.equal((await auth.me()).username, 'alice')
  const [session] = await auth.sessions()
  t.same(session.amr, ['fed'], 'signed in through a provider')
  t.equal(session.dpopBound, true, 'its first refresh bound it to the client\'s DPoP key')

  t.equal(await auth.completeOidc(`${RETURN_TO}#section-2`), null, 'a fragment that is no outcome: nothing to do')
  t.equal(await auth.completeOidc(RETURN_TO), null)
  const relaunched = alice.client()
  t.equal((await relaunched.restore())?.username, 'alice', 'a reload keeps the session (its cookies)')
})

t.test('header mode: the login_code is exchanged with a DPoP proof; it works once', async (t) => {
  const s = await oidcService(t)
  s.idp.accounts.set('bob-1', { sub: 'bob-1', preferred_username: 'bob' })
  const bob = s.person()
  const storage = memoryStorage()
  const app = bob.client({ mode: 'header', storage, dpop: true })
  const start = await app.startOidc('corp', { returnTo: 'com.example.app:/oauth' })
  t.match(start, /mode=header/)
  t.match(start, /code_challenge=[A-Za-z0-9_-]{43}&code_challenge_method=S256/, 'the app\'s own PKCE: only it can exchange the login_code')
  const back = await bob.roundTrip(start, 'bob-1')
  t.match(back, /^com\.example\.app:\/oauth#login_code=[A-Za-z0-9_-]{43}$/)
  const user = asUser(await app.completeOidc(back))
  t.equal(user.username, 'bob')
  t.type(await storage.get(), 'string', 'the refresh token kept where header mode keeps it')
  t.equal(s.count('POST /auth/oidc/exchange'), 1)
  const [session] = await app.sessions()
  t.equal(session.dpopBound, true, 'bound to the app\'s key at the exchange')
  t.same(session.amr, ['fed'])

  const again = await rejection(bob.client({ mode: 'header' }).completeOidc(back))
  t.equal(again.code, 'OIDC_LOGIN_CODE_INVALID', 'a login_code works once')
  t.equal(again.status, 400)
  const direct = await rejection(bob.client({ mode: 'header' }).exchangeOidcLoginCode('x'.repeat(43)))
  t.equal(direct.code, 'OIDC_LOGIN_CODE_INVALID')
  const cookieClient = await rejection(bob.client().exchangeOidcLoginCode('x'.repeat(43)))
  t.equal(cookieClient.code, 'OIDC_LOGIN_CODE_INVALID', 'a cookie-mode client exchanges too (a SPA on another site), in cookie mode')
})

t.test('a user with TOTP: #mfa_token gives the same second step as a password login, in both modes', async (t) => {
  const s = await oidcService(t)
  s.idp.accounts.set('m-1', { sub: 'm-1', preferred_username: 'totpfed' })
  const person = s.person()
  const first = person.client({ mode: 'header' })
  asUser(await first.completeOidc(await person.roundTrip(await first.startOidc('corp', { returnTo: RETURN_TO }), 'm-1')))
  const { secret } = await first.enrollTotp()
  const totp = new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(secret), digits: 6, period: 30, algorithm: 'SHA1' })
  await first.confirmTotp(totp.generate({ timestamp: Date.now() - 30_000 }))

  for (const [mode, timestamp] of [['cookie', Date.now()], ['header', Date.now() + 30_000]] as const) {
    const auth = person.client({ mode })
    const back = await person.roundTrip(await auth.startOidc('corp', { returnTo: RETURN_TO }), 'm-1')
    t.match(back, /#mfa_token=/, `${mode}: the callback asks for the second step`)
    const result = await auth.completeOidc(back) as LoginResult
    t.ok(isMfaRequired(result), `${mode}: the MfaRequired step`)
    const step = result as MfaRequired
    t.same(step.methods, ['totp', 'recovery_code'])
    t.equal(auth.signedIn, false, `${mode}: not signed in before the code`)
    t.equal((await rejection(step.complete('000000'))).code, 'MFA_CODE_INVALID', `${mode}: a wrong code may be tried again`)
    const user = await step.complete(totp.generate({ timestamp }))
    t.equal(user.username, 'totpfed')
    t.equal(auth.signedIn, true)
    t.same((await auth.sessions()).find((x) => x.current)?.amr, ['fed', 'otp'], `${mode}: amr fed + otp`)
  }
})

t.test('refused at the provider: completeOidc rejects with the code, and no session', async (t) => {
  const s = await oidcService(t)
  s.idp.accounts.set('d-1', { sub: 'd-1' })
  const person = s.person()
  const auth = person.client()
  const back = await person.roundTrip(await auth.startOidc('corp', { returnTo: RETURN_TO }), 'd-1', { deny: true })
  t.equal(back, `${RETURN_TO}#error=access_denied`)
  const err = await rejection(auth.completeOidc(back))
  t.equal(err.code, 'access_denied')
  t.equal(err.message, 'The sign-in was cancelled at the provider.')
  t.equal(auth.signedIn, false)
  t.equal(s.count('POST /auth/refresh'), 0, 'nothing was tried')
  t.equal((await rejection(auth.completeOidc(`${RETURN_TO}#error=%3Cscript%3E`))).code, 'OIDC_FAILED', 'a code that is no code is not repeated')
  t.equal((await rejection(auth.completeOidc(`${RETURN_TO}#error=OIDC_STATE_INVALID`))).message, 'This sign-in expired, or was started in another browser. Please try again.')
})

t.test('in a browser: a login_code this tab never asked for is refused (login CSRF), one it asked for is taken', async (t) => {
  const s = await oidcService(t)
  s.idp.accounts.set('mallory', { sub: 'mallory', preferred_username: 'mallory' })
  // The tab's sessionStorage, as a browser has it.
  const store = new Map<string, string>()
  const g = globalThis as { sessionStorage?: unknown }
  g.sessionStorage = { getItem: (k: string) => store.get(k) ?? null, setItem: (k: string, v: string) => { store.set(k, v) }, removeItem: (k: string) => { store.delete(k) } }
  t.teardown(() => { delete g.sessionStorage })

  // Mallory signs in at her provider in header mode and keeps the code for a link she sends.
  const mallory = s.person()
  const planted = await mallory.roundTrip(`${s.publicUrl}/auth/oidc/corp/start?mode=header&return_to=${encodeURIComponent(RETURN_TO)}`, 'mallory')
  store.clear()
  const victim = s.person().client({ mode: 'header' })
  const refused = await rejection(victim.completeOidc(planted))
  t.equal(refused.code, 'OIDC_NOT_STARTED')
  t.equal(victim.signedIn, false)
  t.equal(s.count('POST /auth/oidc/exchange'), 0, 'the code was never sent')

  const own = mallory.client({ mode: 'header' })
  const back = await mallory.roundTrip(await own.startOidc('corp', { returnTo: RETURN_TO }), 'mallory')
  t.equal(asUser(await own.completeOidc(back)).username, 'mallory', 'a sign-in this tab started completes')
  t.equal(store.size, 0, 'the mark is spent')
})

t.test('a native app with the provider\'s ID token (its own SDK)', async (t) => {
  const s = await oidcService(t)
  const app = s.person().client({ mode: 'header' })
  const now = Math.floor(Date.now() / 1000)
  const idToken = await s.idp.sign({ iss: s.idp.issuer, aud: 'auth-service', sub: 'native-1', preferred_username: 'native', iat: now, exp: now + 300, nonce: 'n-123' })
  t.equal(asUser(await app.signInWithIdToken('corp', idToken, 'n-123')).username, 'native')
  t.same((await app.sessions())[0].amr, ['fed'])
  t.equal((await rejection(s.person().client({ mode: 'header' }).signInWithIdToken('corp', idToken, 'n-123'))).code, 'OIDC_ID_TOKEN_INVALID', 'each ID token signs in once')
  const wrongNonce = await s.idp.sign({ iss: s.idp.issuer, aud: 'auth-service', sub: 'native-1', iat: now, exp: now + 300, nonce: 'n-123' })
  t.equal((await rejection(s.person().client({ mode: 'header' }).signInWithIdToken('corp', wrongNonce, 'another'))).code, 'OIDC_ID_TOKEN_INVALID')
  t.equal((await rejection(s.person().client().signInWithIdToken('corp', idToken))).code, 'HEADER_MODE_ONLY')
})

t.test('link and unlink from a signed-in browser, each after step-up', async (t) => {
  const s = await oidcService(t, { env: { REAUTH_MAX_AGE: '10' } })
  s.idp.accounts.set('carol-1', { sub: 'carol-1', email: 'carol@corp.test' })
  const carol = s.person()
  const name = uniqueName('Carol')
  const first = carol.client()
  await first.register(name, GOOD_PASSWORD)
  await first.login(name, GOOD_PASSWORD)
  first.close()

  /** The sign-in an hour old, and the app loaded again: its token carries the old auth_time. */
  const stale = async (answer: { password: string } | null = { password: GOOD_PASSWORD }) => {
    await s.app.prisma.session.updateMany({ where: { user: { usernameKey: name.toLowerCase() } }, data: { authTime: new Date(Date.now() - 3600_000) } })
    const asked: ReauthReason[] = []
    const auth = carol.client({ onReauthRequired: ({ code }) => { asked.push(code); return answer } })
    t.equal((await auth.restore())?.username, name)
    return { auth, asked }
  }

  const linking = await stale()
  t.same(await linking.auth.identities(), [])
  const url = await linking.auth.linkIdentity('corp', `${SPA}/security`)
  t.same(linking.asked, ['REAUTH_REQUIRED'], 'asked once for the password, then sent again')
  t.equal(s.count('POST /auth/oidc/corp/link'), 2)
  t.ok(url.startsWith(`${s.idp.issuer}/`), 'the provider\'s URL (no window here: not navigated)')
  const back = await carol.roundTrip(url, 'carol-1')
  t.equal(back, `${SPA}/security#linked=corp`)
  t.same(await linking.auth.completeOidc(back), { linked: 'corp' })
  const [identity] = await linking.auth.identities()
  t.match(identity, { provider: 'corp', email: 'carol@corp.test' })

  // The identity now signs in to Carol's account (another browser).
  const elsewhere = s.person()
  const federated = elsewhere.client({ mode: 'header' })
  t.equal(asUser(await federated.completeOidc(await elsewhere.roundTrip(await federated.startOidc('corp', { returnTo: RETURN_TO }), 'carol-1'))).username, name)

  const unlinking = await stale()
  await unlinking.auth.unlinkIdentity(identity.id)
  t.same(unlinking.asked, ['REAUTH_REQUIRED'], 'unlinking asks too')
  t.same(await unlinking.auth.identities(), [])
  t.equal((await rejection(federated.me())).code, 'INVALID_REFRESH_TOKEN', 'the session the identity opened ended (its token revoked, its refresh refused)')
  t.equal(federated.signedIn, false)

  const declined = await stale(null)
  t.equal((await rejection(declined.auth.linkIdentity('corp', `${SPA}/security`))).code, 'REAUTH_REQUIRED', 'declined: the service\'s error')
  t.same(declined.asked, ['REAUTH_REQUIRED'])
})

t.test('the last way in stays: an account made by a provider cannot unlink its only identity', async (t) => {
  const s = await oidcService(t)
  s.idp.accounts.set('solo-1', { sub: 'solo-1', preferred_username: 'solo' })
  const solo = s.person()
  const auth = solo.client({ mode: 'header' })
  asUser(await auth.completeOidc(await solo.roundTrip(await auth.startOidc('corp', { returnTo: RETURN_TO }), 'solo-1')))
  const [identity] = await auth.identities()
  const err = await rejection(auth.unlinkIdentity(identity.id))
  t.equal(err.code, 'LAST_SIGN_IN_METHOD')
  t.equal(err.status, 409)
  t.equal((await auth.identities()).length, 1)
})
