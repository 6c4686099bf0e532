// Second factors (docs/api.md "Second factors: TOTP and passkeys"): every
// row on both backends, with the failures it names.
import t from 'tap'
import * as OTPAuth from 'otpauth'
import type { FastifyInstance } from 'fastify'
import { buildApp, backends } from '../helpers/app.ts'
import { Client, GOOD_PASSWORD, parseSetCookies, signedIn } from '../helpers/client.ts'
import { SoftAuthenticator, passkeySession } from '../helpers/authenticator.ts'

const ORIGIN = 'http://localhost:3000'
const claimsOf = (token: string) => JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString())

function generator (secret: string) {
  return new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(secret), digits: 6, period: 30, algorithm: 'SHA1' })
}

/** A signed-in user with TOTP confirmed (with the code of the previous step: one step of drift). */
async function withTotp (app: FastifyInstance, mode: 'header' | 'cookie' = 'header') {
  const { c, name } = await signedIn(app, 'totp', mode)
  const secret = (await c.request('POST', '/auth/mfa/totp')).json().secret
  const totp = generator(secret)
  const confirmed = await c.request('POST', '/auth/mfa/totp/confirm', { body: { code: totp.generate({ timestamp: Date.now() - 30_000 }) } })
  if (confirmed.statusCode !== 200) throw new Error(`confirm: ${confirmed.body}`)
  return { c, name, totp, secret, recovery: confirmed.json().recovery_codes as string[] }
}

/** A session of the user that used the second factor: password, then `code`. */
async function strongSession (app: FastifyInstance, name: string, code: string, mode: 'header' | 'cookie' = 'header') {
  const { c, mfaToken } = await passwordStep(app, name, mode)
  const res = await c.request('POST', '/auth/login/mfa', { body: { mfa_token: mfaToken, code }, bearer: false })
  if (res.statusCode !== 200) throw new Error(`second step: ${res.statusCode} ${res.body}`)
  return c
}

async function passwordStep (app: FastifyInstance, name: string, mode: 'header' | 'cookie' = 'header') {
  const c = new Client(app, mode)
  const res = await c.login(name, GOOD_PASSWORD)
  return { c, res, mfaToken: res.json().mfa_token as string }
}

/** `count` six-digit codes that are wrong now and for the next minute (none of them a code of a step within ±2). */
function wrongCodes (totp: OTPAuth.TOTP, count: number, seed: number): string[] {
  const valid = new Set([-2, -1, 0, 1, 2].map((d) => totp.generate({ timestamp: Date.now() + d * 30_000 })))
  const out: string[] = []
  for (let i = 0; out.length < count; i++) {
    const code = String(100000 + seed * 1000 + i)
    if (!valid.has(code)) out.push(code)
  }
  return out
}

/** How many answers checked the code (a 4xx of MFA_CODE_INVALID) and how many were held back (429). */
const tally = (answers: Array<{ statusCode: number, json: () => { code?: string } }>) => ({
  tried: answers.filter((r) => r.statusCode !== 429 && r.json().code === 'MFA_CODE_INVALID').length,
  limited: answers.filter((r) => r.statusCode === 429).length
})

const secondStep = (c: Client, mfaToken: string, code: string) => c.request('POST', '/auth/login/mfa', { body: { mfa_token: mfaToken, code }, bearer: false })

for (const backend of backends) {
  t.test(`${backend} backend`, async (t) => {
    const { app, redis, databaseUrl } = await buildApp(t, { backend })

    t.test('TOTP enrolment: a pending secret, confirmed by a code, ten recovery codes, sealed at rest', async (t) => {
      const { c, name } = await signedIn(app, 'enrol')
      const enrol = await c.request('POST', '/auth/mfa/totp')
      t.equal(enrol.statusCode, 200)
      t.equal(enrol.headers['cache-control'], 'no-store')
      const { secret, otpauth_uri: uri } = enrol.json()
      t.match(secret, /^[A-Z2-7]{32}$/, '160 bits, base32')
      const parsed = OTPAuth.URI.parse(uri) as OTPAuth.TOTP
      t.equal(parsed.secret.base32, secret)
      t.equal(parsed.label, name)
      t.same([parsed.digits, parsed.period, parsed.algorithm], [6, 30, 'SHA1'])
      t.equal((await c.request('GET', '/auth/mfa')).json().totp, false, 'pending until confirmed')
      t.equal((await new Client(app, 'header').login(name, GOOD_PASSWORD)).json().access_token !== undefined, true, 'a pending factor asks nothing at login')

      const stored = await app.prisma.totpFactor.findFirstOrThrow({ where: { user: { usernameKey: name.toLowerCase() } } })
      t.notOk(stored.secret.includes(secret), 'the secret is not stored in the clear')

      const wrong = await c.request('POST', '/auth/mfa/totp/confirm', { body: { code: generator(secret).generate() === '000000' ? '111111' : '000000' } })
      t.equal(wrong.statusCode, 400)
      t.equal(wrong.json().code, 'MFA_CODE_INVALID')
      const ok = await c.request('POST', '/auth/mfa/totp/confirm', { body: { code: generator(secret).generate() } })
      t.equal(ok.statusCode, 200)
      const codes = ok.json().recovery_codes
      t.equal(codes.length, 10)
      t.equal(new Set(codes).size, 10)
      t.equal(await app.prisma.recoveryCode.count({ where: { codeHash: { in: codes } } }), 0, 'recovery codes are stored hashed')
      const weak = await c.request('POST', '/auth/mfa/totp')
      t.equal(weak.statusCode, 401)
      t.equal(weak.json().code, 'MFA_REQUIRED', 'the session that enrolled signed in with the password alone: now it is not enough')
      const strong = await strongSession(app, name, generator(secret).generate({ timestamp: Date.now() + 30_000 }))
      t.equal((await strong.request('POST', '/auth/mfa/totp')).json().code, 'MFA_ALREADY_ENABLED')
      t.equal((await strong.request('POST', '/auth/mfa/totp')).statusCode, 409)
      t.same((await c.request('GET', '/auth/mfa')).json(), { totp: true, recovery_codes_left: 10, passkeys: 0 })
    })

    t.test('a password login of a TOTP user: mfa_token, no token or cookie; the second step answers as a login', async (t) => {
      const { name, totp } = await withTotp(app)
      for (const mode of ['cookie', 'header'] as const) {
        const { c, res, mfaToken } = await passwordStep(app, name, mode)
        t.equal(res.statusCode, 200)
        const body = res.json()
        t.same(Object.keys(body).sort(), ['expires_in', 'methods', 'mfa_required', 'mfa_token'])
        t.equal(body.mfa_required, true)
        t.equal(body.expires_in, 300)
        t.same(body.methods, ['totp', 'recovery_code'])
        t.equal(parseSetCookies(res).length, 0, `${mode}: no cookie before the second step`)
        t.equal(res.headers['cache-control'], 'no-store')
        // Each mode signs in with the code of its own step: a code is good once.
        const code = totp.generate({ timestamp: Date.now() + (mode === 'cookie' ? 0 : 30_000) })
        const done = await secondStep(c, mfaToken, code)
        t.equal(done.statusCode, 200, mode)
        const claims = claimsOf(done.json().access_token)
        t.same(claims.amr, ['pwd', 'otp'])
        t.ok(Math.abs(claims.auth_time - Date.now() / 1000) < 60, 'auth_time is the sign-in time')
        if (mode === 'cookie') t.same(parseSetCookies(done).map((x) => x.name).sort(), ['csrf_token', 'refresh_token'])
        else t.type(done.json().refresh_token, 'string')
        const refreshed = await c.refresh()
        t.same(claimsOf(refreshed.json().access_token).amr, ['pwd', 'otp'], 'a refresh keeps how the session signed in')
        t.equal(claimsOf(refreshed.json().access_token).auth_time, claims.auth_time, 'and when')
        const current = (await c.request('GET', '/auth/sessions')).json().find((s: { current: boolean }) => s.current)
        t.same(current.amr, ['pwd', 'otp'], 'the session list shows how the session signed in')
        t.equal(Math.floor(new Date(current.authTime).getTime() / 1000), claims.auth_time)
        t.equal((await secondStep(new Client(app, mode), mfaToken, totp.generate())).json().code, 'MFA_TOKEN_INVALID', 'the mfa_token is spent')
      }
    })

    t.test('a replayed code, drift of one step, not two', async (t) => {
      const { name, totp } = await withTotp(app)
      const now = Date.now()
      const code = totp.generate({ timestamp: now })
      const first = await passwordStep(app, name)
      t.equal((await secondStep(first.c, first.mfaToken, code)).statusCode, 200)
      const second = await passwordStep(app, name)
      const replay = await secondStep(second.c, second.mfaToken, code)
      t.equal(replay.statusCode, 401)
      t.equal(replay.json().code, 'MFA_CODE_INVALID', 'a code is accepted once only')
      t.equal((await secondStep(second.c, second.mfaToken, totp.generate({ timestamp: now - 30_000 }))).json().code, 'MFA_CODE_INVALID', 'an earlier step than one used is refused')
      t.equal((await secondStep(second.c, second.mfaToken, totp.generate({ timestamp: now + 90_000 }))).json().code, 'MFA_CODE_INVALID', 'three steps ahead is outside the drift')
      t.equal((await secondStep(second.c, second.mfaToken, totp.generate({ timestamp: now + 30_000 }))).statusCode, 200, 'one step ahead is drift; the mfa_token survived the wrong codes')
    })

    t.test('recovery codes: each once', async (t) => {
      const { name, recovery } = await withTotp(app, 'cookie')
      const a = await passwordStep(app, name)
      const ok = await secondStep(a.c, a.mfaToken, recovery[0].toLowerCase())
      t.equal(ok.statusCode, 200, 'a recovery code signs in (case does not matter)')
      t.same(claimsOf(ok.json().access_token).amr, ['pwd', 'otp'])
      const b = await passwordStep(app, name)
      const spent = await secondStep(b.c, b.mfaToken, recovery[0])
      t.equal(spent.statusCode, 401)
      t.equal(spent.json().code, 'MFA_CODE_INVALID', 'a spent recovery code')
      t.equal((await a.c.request('GET', '/auth/mfa')).json().recovery_codes_left, 9)
    })

    t.test('mfa_token: unknown, expired, spent; a password change voids a pending one', async (t) => {
      const { c: owner, name, totp } = await withTotp(app)
      const anon = new Client(app, 'header')
      t.equal((await secondStep(anon, 'A'.repeat(43), totp.generate())).json().code, 'MFA_TOKEN_INVALID', 'unknown')
      t.equal((await secondStep(anon, 'nope', totp.generate())).statusCode, 401, 'malformed')
      const a = await passwordStep(app, name)
      await app.prisma.mfaToken.updateMany({ data: { expiresAt: new Date(Date.now() - 1000) }, where: { user: { usernameKey: name.toLowerCase() } } })
      const expired = await secondStep(a.c, a.mfaToken, totp.generate())
      t.equal(expired.statusCode, 401)
      t.equal(expired.json().code, 'MFA_TOKEN_INVALID', 'expired (300 s)')
      const b = await passwordStep(app, name)
      const strong = await passwordStep(app, name)
      t.equal((await secondStep(strong.c, strong.mfaToken, totp.generate())).statusCode, 200)
      t.equal((await strong.c.request('POST', '/auth/password', { body: { current_password: GOOD_PASSWORD, new_password: 'a whole new passphrase' } })).statusCode, 204)
      t.equal((await secondStep(b.c, b.mfaToken, totp.generate({ timestamp: Date.now() + 30_000 }))).json().code, 'MFA_TOKEN_INVALID', 'a password change voids second steps in flight')
      t.equal((await owner.me()).statusCode, 401, 'and ended the other sessions')
    })

    t.test('five wrong codes for one account, then 429 even for a right one', async (t) => {
      const { name, totp } = await withTotp(app)
      const { c, mfaToken } = await passwordStep(app, name)
      const right = totp.generate({ timestamp: Date.now() + 30_000 })
      const wrong = right === '123456' ? '654321' : '123456'
      for (let i = 0; i < 5; i++) t.equal((await secondStep(c, mfaToken, wrong)).json().code, 'MFA_CODE_INVALID')
      const limited = await secondStep(c, mfaToken, right)
      t.equal(limited.statusCode, 429)
      t.ok(Number(limited.headers['retry-after']) > 0, 'with Retry-After')
      const other = await withTotp(app)
      const o = await passwordStep(app, other.name)
      t.equal((await secondStep(o.c, o.mfaToken, other.totp.generate({ timestamp: Date.now() + 30_000 }))).statusCode, 200, 'another account is not affected')
    })

    t.test('wrong codes sent at once are counted before they are checked: exactly five are tried, in every round', async (t) => {
      const instances = backend === 'real' ? [app, (await buildApp(t, { backend, redis, databaseUrl })).app] : [app]
      for (let round = 0; round < 5; round++) {
        const { name, totp } = await withTotp(app)
        const c = await strongSession(app, name, totp.generate())
        // Removal with an access token: nothing else serializes the guesses.
        const removals = await Promise.all(wrongCodes(totp, 30, round).map((code, i) => c.request('DELETE', '/auth/mfa/totp', { body: { code }, app: instances[i % instances.length] })))
        t.same(tally(removals), { tried: 5, limited: 25 }, `round ${round + 1}: removal`)
        t.equal((await c.request('DELETE', '/auth/mfa/totp', { body: { code: totp.generate() } })).statusCode, 429, 'then even the right code waits')

        // The second step of thirty password logins, each with its own mfa_token.
        const other = await withTotp(app)
        const steps = await Promise.all(instances.flatMap((instance) => Array.from({ length: 30 / instances.length }, () => passwordStep(instance, other.name))))
        const codes = wrongCodes(other.totp, 30, round)
        const answers = await Promise.all(steps.map((step, i) => secondStep(step.c, step.mfaToken, codes[i])))
        t.same(tally(answers), { tried: 5, limited: 25 }, `round ${round + 1}: second step`)
      }
    })

    t.test('removing TOTP needs a code; then a login has no second step', async (t) => {
      const { c: weak, name, recovery } = await withTotp(app)
      t.equal((await weak.request('DELETE', '/auth/mfa/totp', { body: { code: recovery[2] } })).json().code, 'MFA_REQUIRED', 'not from a session that signed in with the password alone')
      const c = await strongSession(app, name, recovery[0])
      const wrong = await c.request('DELETE', '/auth/mfa/totp', { body: { code: 'AAAA-BBBB-CCCC-DDDD' } })
      t.equal(wrong.statusCode, 400)
      t.equal(wrong.json().code, 'MFA_CODE_INVALID')
      t.equal((await c.request('DELETE', '/auth/mfa/totp', { body: { code: recovery[3] } })).statusCode, 204)
      const res = await new Client(app, 'header').login(name, GOOD_PASSWORD)
      t.type(res.json().access_token, 'string')
      t.same(claimsOf(res.json().access_token).amr, ['pwd'])
      t.equal(await app.prisma.recoveryCode.count({ where: { user: { usernameKey: name.toLowerCase() } } }), 0, 'the recovery codes went with it')
    })

    t.test('passkeys: register several, list, rename, delete', async (t) => {
      const { c } = await signedIn(app, 'pk')
      const auth = new SoftAuthenticator(ORIGIN)
      const options = (await c.request('POST', '/auth/passkeys/registration/options')).json()
      t.equal(options.rp.id, 'localhost')
      t.equal(options.authenticatorSelection.residentKey, 'required', 'discoverable')
      t.type(options.challenge, 'string')
      const created = await c.request('POST', '/auth/passkeys/registration', { body: { response: auth.register(options), name: 'Laptop' } })
      t.equal(created.statusCode, 201)
      t.same(Object.keys(created.json()).sort(), ['createdAt', 'id', 'lastUsedAt', 'name'])
      t.equal(created.json().name, 'Laptop')
      t.equal((await c.request('POST', '/auth/passkeys/registration/options')).json().code, 'MFA_REQUIRED', 'a passkey is a second factor: the password session may not add another')
      const strong = await passkeySession(app, auth)
      const second = (await strong.request('POST', '/auth/passkeys/registration/options')).json()
      t.equal(second.excludeCredentials.length, 1, 'the registered one is excluded')
      t.equal((await strong.request('POST', '/auth/passkeys/registration', { body: { response: auth.register(second) } })).statusCode, 201)
      const list = (await c.request('GET', '/auth/passkeys')).json()
      t.equal(list.length, 2)
      const renamed = await c.request('PATCH', `/auth/passkeys/${list[1].id}`, { body: { name: 'Phone' } })
      t.equal(renamed.json().name, 'Phone')
      const stranger = (await signedIn(app, 'pkother')).c
      t.equal((await stranger.request('DELETE', `/auth/passkeys/${list[0].id}`)).statusCode, 404, "another user's passkey is not found")
      t.equal((await stranger.request('PATCH', `/auth/passkeys/${list[0].id}`, { body: { name: 'x' } })).statusCode, 404)
      t.equal((await c.request('DELETE', `/auth/passkeys/${list[0].id}`)).json().code, 'MFA_REQUIRED')
      t.equal((await strong.request('DELETE', `/auth/passkeys/${list[0].id}`)).statusCode, 204)
      t.equal((await strong.request('DELETE', `/auth/passkeys/${list[0].id}`)).statusCode, 404)
      t.same((await c.request('GET', '/auth/passkeys')).json().map((p: { name: string }) => p.name), ['Phone'])
    })

    t.test('passkey registration refuses a wrong origin, a wrong RP ID and a replayed challenge', async (t) => {
      const { c } = await signedIn(app, 'pkreg')
      const auth = new SoftAuthenticator(ORIGIN)
      const tries: Array<[string, object]> = [['wrong origin', { origin: 'http://evil.localhost:3000' }], ['wrong RP ID', { rpId: 'evil.example' }], ['a challenge never issued', { challenge: 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' }]]
      for (const [what, o] of tries) {
        const options = (await c.request('POST', '/auth/passkeys/registration/options')).json()
        const res = await c.request('POST', '/auth/passkeys/registration', { body: { response: auth.register(options, o) } })
        t.equal(res.statusCode, 400, what)
        t.equal(res.json().code, 'PASSKEY_INVALID', what)
      }
      const options = (await c.request('POST', '/auth/passkeys/registration/options')).json()
      t.equal((await c.request('POST', '/auth/passkeys/registration', { body: { response: auth.register(options) } })).statusCode, 201)
      // From now on only a session that used a passkey may register another.
      const strong = await passkeySession(app, auth)
      t.equal((await strong.request('POST', '/auth/passkeys/registration', { body: { response: auth.register(options) } })).json().code, 'PASSKEY_INVALID', 'a replayed challenge')
      const other = (await signedIn(app, 'pkreg2')).c
      const theirs = (await other.request('POST', '/auth/passkeys/registration/options')).json()
      t.equal((await strong.request('POST', '/auth/passkeys/registration', { body: { response: auth.register(theirs) } })).json().code, 'PASSKEY_INVALID', "another user's challenge")
      t.equal((await strong.request('POST', '/auth/passkeys/registration', { body: { response: { id: 'x', response: {} } } })).json().code, 'PASSKEY_INVALID', 'garbage')
    })

    t.test('passkey sign-in: discoverable or by username, no second step, amr from the authenticator', async (t) => {
      const { name, totp } = await withTotp(app)
      const c = await strongSession(app, name, totp.generate())
      const auth = new SoftAuthenticator(ORIGIN)
      t.equal((await c.request('POST', '/auth/passkeys/registration', { body: { response: auth.register((await c.request('POST', '/auth/passkeys/registration/options')).json()) } })).statusCode, 201)
      let password = GOOD_PASSWORD
      for (const mode of ['cookie', 'header'] as const) {
        const anon = new Client(app, mode)
        const options = (await anon.request('POST', '/auth/passkeys/authentication/options', { body: {} })).json()
        t.notOk(options.allowCredentials?.length, 'no username: a discoverable credential picks the user')
        const res = await anon.request('POST', '/auth/passkeys/authentication', { body: { response: auth.authenticate(options) } })
        t.equal(res.statusCode, 200, `${mode}: a TOTP user signs in with a passkey alone`)
        t.same(claimsOf(res.json().access_token).amr, ['hwk', 'user'])
        if (mode === 'cookie') t.same(parseSetCookies(res).map((x) => x.name).sort(), ['csrf_token', 'refresh_token'])
        t.equal((await anon.me()).json().username, name)
        const next = 'passkey-made passphrase ' + mode
        t.equal((await anon.request('POST', '/auth/password', { body: { current_password: password, new_password: next } })).statusCode, 204, 'a passkey session is strong enough to change the password')
        password = next
      }
      const named = (await new Client(app, 'header').request('POST', '/auth/passkeys/authentication/options', { body: { username: name } })).json()
      t.same(named.allowCredentials.map((x: { id: string }) => x.id), [(await c.request('GET', '/auth/passkeys')).json()[0]?.id ?? named.allowCredentials[0].id])
      t.equal((await new Client(app, 'header').request('POST', '/auth/passkeys/authentication', { body: { response: auth.authenticate(named, { userVerified: false }) } })).statusCode, 200)
      const unknown = (await new Client(app, 'header').request('POST', '/auth/passkeys/authentication/options', { body: { username: 'no-such-user-here' } })).json()
      t.equal(unknown.allowCredentials.length, 1, 'an unknown user gets options of the same shape')
      const synced = new SoftAuthenticator(ORIGIN)
      synced.backedUp = true
      const d = (await signedIn(app, 'pksynced')).c
      await d.request('POST', '/auth/passkeys/registration', { body: { response: synced.register((await d.request('POST', '/auth/passkeys/registration/options')).json()) } })
      const o = (await new Client(app, 'header').request('POST', '/auth/passkeys/authentication/options', { body: {} })).json()
      const res = await new Client(app, 'header').request('POST', '/auth/passkeys/authentication', { body: { response: synced.authenticate(o, { userVerified: false }) } })
      t.same(claimsOf(res.json().access_token).amr, ['swk'], 'a synced passkey without user verification')
    })

    t.test('passkey sign-in refuses wrong origin, wrong RP ID, replayed or expired challenge, counter going back, bad signature, unknown credential, disabled user', async (t) => {
      const { c } = await signedIn(app, 'pkauth')
      const auth = new SoftAuthenticator(ORIGIN)
      await c.request('POST', '/auth/passkeys/registration', { body: { response: auth.register((await c.request('POST', '/auth/passkeys/registration/options')).json()) } })
      const anon = new Client(app, 'header')
      const options = async () => (await anon.request('POST', '/auth/passkeys/authentication/options', { body: {} })).json()
      const signIn = (response: object) => anon.request('POST', '/auth/passkeys/authentication', { body: { response } })
      const refused = async (what: string, response: object) => {
        const res = await signIn(response)
        t.equal(res.statusCode, 401, what)
        t.equal(res.json().code, 'PASSKEY_INVALID', what)
      }
      await refused('wrong origin', auth.authenticate(await options(), { origin: 'https://evil.example' }))
      await refused('wrong RP ID', auth.authenticate(await options(), { rpId: 'evil.example' }))
      const other = new SoftAuthenticator(ORIGIN)
      other.register({ challenge: 'x', user: { id: 'AAAA' } })
      await refused('bad signature', auth.authenticate(await options(), { key: other.credentials[0].key }))
      await refused('unknown credential', other.authenticate(await options()))
      const once = await options()
      t.equal((await signIn(auth.authenticate(once))).statusCode, 200)
      await refused('replayed challenge', auth.authenticate(once))
      // The counter the service holds (the refused attempts above moved the authenticator's own on).
      const counter = Number((await app.prisma.passkey.findUniqueOrThrow({ where: { id: auth.credentials[0].id.toString('base64url') } })).counter)
      await refused('counter going back', auth.authenticate(await options(), { counter: counter - 1 }))
      await refused('counter standing still', auth.authenticate(await options(), { counter }))
      const late = await options()
      await app.prisma.webAuthnChallenge.updateMany({ where: { challenge: late.challenge }, data: { expiresAt: new Date(Date.now() - 1000) } })
      await refused('expired challenge', auth.authenticate(late, { counter: counter + 10 }))
      // anon signed in with the passkey above: a session that may ask for registration options.
      await refused('a registration challenge', auth.authenticate((await anon.request('POST', '/auth/passkeys/registration/options')).json(), { counter: counter + 11 }))
      const stranger = (await anon.request('POST', '/auth/passkeys/authentication/options', { body: { username: (await signedIn(app, 'pkstranger')).name } })).json()
      await refused("a challenge issued for another user's sign-in", auth.authenticate(stranger, { counter: counter + 12 }))
      t.equal((await signIn(auth.authenticate(await options(), { counter: counter + 13 }))).statusCode, 200, 'the passkey still works after all that')

      const admin = await buildAdmin(app)
      const id = (await c.me()).json().id
      t.equal((await admin.request('PATCH', `/admin/users/${id}`, { body: { disabled: true } })).statusCode, 200)
      await refused('a disabled user', auth.authenticate(await options()))
    })

    t.test('sign-in options for an unknown username look like a real user\'s, and stay the same', async (t) => {
      const { c, name } = await signedIn(app, 'pkshape')
      const auth = new SoftAuthenticator(ORIGIN)
      await c.request('POST', '/auth/passkeys/registration', { body: { response: auth.register((await c.request('POST', '/auth/passkeys/registration/options')).json()) } })
      const optionsFor = async (username: string) => {
        const res = await new Client(app, 'header').request('POST', '/auth/passkeys/authentication/options', { body: { username } })
        t.equal(res.statusCode, 200)
        return res.json()
      }
      // Every key, and every value's type, length (ids, lists) or value (the rest), except the challenge.
      const shape = (v: unknown): unknown => Array.isArray(v)
        ? v.map(shape)
        : v !== null && typeof v === 'object'
          ? Object.fromEntries(Object.entries(v).filter(([k]) => k !== 'challenge').map(([k, x]) => [k, shape(x)]))
          : typeof v === 'string' && /^[A-Za-z0-9_-]{16,}$/.test(v) ? `string of ${v.length}` : v
      const known = await optionsFor(name)
      for (const unknownName of ['no-such-user-here', 'Not A Valid Name!', 'x\u0000y']) {
        const unknown = await optionsFor(unknownName)
        t.same(shape(unknown), shape(known), `${JSON.stringify(unknownName)}: the same keys, and values of the same shape and length`)
        t.same((await optionsFor(unknownName)).allowCredentials, unknown.allowCredentials, 'the same made-up credential every time')
      }
      t.same(known.allowCredentials[0].transports, ['internal'])
      t.equal(known.allowCredentials[0].id.length, 22)
      t.not((await optionsFor('no-such-user-here')).allowCredentials[0].id, (await optionsFor('another-unknown')).allowCredentials[0].id, 'one made-up credential per name')
      t.same((await optionsFor('NO-SUCH-USER-HERE')).allowCredentials, (await optionsFor('no-such-user-here')).allowCredentials, 'names are one ignoring case')
    })

    t.test('a passkey name with a NUL or another control character is 400 VALIDATION, at registration and rename', async (t) => {
      const { c } = await signedIn(app, 'pkname')
      const auth = new SoftAuthenticator(ORIGIN)
      for (const name of ['Lap\u0000top', 'tab\there', 'line\nbreak', 'del\u007f']) {
        const options = (await c.request('POST', '/auth/passkeys/registration/options')).json()
        const res = await c.request('POST', '/auth/passkeys/registration', { body: { response: auth.register(options), name } })
        t.equal(res.statusCode, 400, JSON.stringify(name))
        t.equal(res.json().code, 'VALIDATION', 'not PASSKEY_INVALID, not a 500')
      }
      const options = (await c.request('POST', '/auth/passkeys/registration/options')).json()
      const created = await c.request('POST', '/auth/passkeys/registration', { body: { response: auth.register(options), name: 'Ordinary name, ünïcode fine' } })
      t.equal(created.statusCode, 201)
      t.equal(created.json().name, 'Ordinary name, ünïcode fine')
      for (const name of ['nul\u0000', '\u0000', 'esc\u001b[31m']) {
        const res = await c.request('PATCH', `/auth/passkeys/${created.json().id}`, { body: { name } })
        t.equal(res.statusCode, 400, JSON.stringify(name))
        t.equal(res.json().code, 'VALIDATION')
      }
      t.equal((await c.request('PATCH', `/auth/passkeys/${created.json().id}`, { body: { name: 'x'.repeat(65) } })).json().code, 'VALIDATION', 'at most 64 characters')
      const anon = new Client(app, 'header')
      const signIn = await anon.request('POST', '/auth/passkeys/authentication', { body: { response: { ...auth.authenticate(options), id: 'a\u0000b' } } })
      t.equal(signIn.statusCode, 401, 'a NUL in a credential id is an unknown credential')
      t.equal(signIn.json().code, 'PASSKEY_INVALID')
      t.same((await c.request('GET', '/auth/passkeys')).json().map((p: { name: string }) => p.name), ['Ordinary name, ünïcode fine'], 'nothing else was stored')
    })
  })
}

async function buildAdmin (app: FastifyInstance): Promise<Client> {
  const { c, name } = await signedIn(app, 'pkadmin')
  const id = (await c.me()).json().id
  await app.prisma.userRole.create({ data: { userId: id, roleName: 'admin' } })
  const admin = new Client(app, 'header')
  await admin.login(name, GOOD_PASSWORD)
  return admin
}
