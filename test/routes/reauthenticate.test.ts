// POST /auth/reauthenticate (docs/api.md "Changing how an account signs in"):
// a signed-in session proves who it is again and gets an access token of the
// same session, fresh; on both backends.
import t from 'tap'
import * as OTPAuth from 'otpauth'
import type { FastifyInstance } from 'fastify'
import { buildApp, backends } from '../helpers/app.ts'
import { Client, GOOD_PASSWORD, parseSetCookies, signedIn } from '../helpers/client.ts'
import { SoftAuthenticator } from '../helpers/authenticator.ts'
import { dpopKey } from '../helpers/dpop.ts'

const ORIGIN = 'http://localhost:3000'
const claimsOf = (token: string) => JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString())
const reauth = (c: Client, body: object, headers?: Record<string, string>) => c.request('POST', '/auth/reauthenticate', { body, headers })

async function enableTotp (c: Client): Promise<OTPAuth.TOTP> {
  const enrol = await c.request('POST', '/auth/mfa/totp')
  const totp = new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(enrol.json().secret), digits: 6, period: 30, algorithm: 'SHA1' })
  const res = await c.request('POST', '/auth/mfa/totp/confirm', { body: { code: totp.generate({ timestamp: Date.now() - 30_000 }) } })
  if (res.statusCode !== 200) throw new Error(`confirm: ${res.statusCode} ${res.body}`)
  return totp
}

async function withPasskey (app: FastifyInstance, prefix: string) {
  const { c, name } = await signedIn(app, prefix)
  const auth = new SoftAuthenticator(ORIGIN)
  const options = (await c.request('POST', '/auth/passkeys/registration/options')).json()
  const res = await c.request('POST', '/auth/passkeys/registration', { body: { response: auth.register(options) } })
  if (res.statusCode !== 201) throw new Error(`passkey: ${res.body}`)
  return { c, name, auth }
}

const assertionFor = async (c: Client, auth: SoftAuthenticator, username?: string) =>
  auth.authenticate((await c.request('POST', '/auth/passkeys/authentication/options', { body: username === undefined ? {} : { username } })).json())

for (const backend of backends) {
  t.test(`${backend} backend`, async (t) => {
    const { app } = await buildApp(t, { backend })

    t.test('with the password: a fresh access token of the same session, and nothing else', async (t) => {
      for (const mode of ['header', 'cookie'] as const) {
        const { c } = await signedIn(app, 'reauth', mode)
        const before = claimsOf(c.accessToken!)
        const oldToken = c.accessToken!
        await app.prisma.session.update({ where: { id: before.sid }, data: { authTime: new Date(Date.now() - 3600_000) } })
        const res = await reauth(c, { password: GOOD_PASSWORD })
        t.equal(res.statusCode, 200, mode)
        t.equal(res.headers['cache-control'], 'no-store')
        t.same(parseSetCookies(res), [], 'no cookie')
        const body = res.json()
        t.same(Object.keys(body).sort(), ['access_token', 'expires_in', 'token_type', 'user'], 'no refresh token')
        t.equal(body.token_type, 'Bearer')
        t.equal(body.expires_in, 900)
        const { id, username, roles } = (await c.me()).json()
        t.same(body.user, { id, username, roles })
        const after = claimsOf(body.access_token)
        t.equal(after.sid, before.sid, 'the same session')
        t.same(after.amr, ['pwd'])
        t.ok(Math.abs(after.auth_time - Date.now() / 1000) < 5, 'auth_time is now')
        t.notOk('cnf' in after, 'an unbound session stays unbound')
        const row = await app.prisma.session.findUniqueOrThrow({ where: { id: before.sid } })
        t.same(row.amr, ['pwd'])
        t.equal(Math.floor(row.authTime.getTime() / 1000), after.auth_time, 'the session row records it')
        t.equal(await app.prisma.session.count({ where: { userId: before.sub } }), 1, 'no session was opened')
        t.equal((await c.request('GET', '/auth/me', { headers: { authorization: `Bearer ${oldToken}` } })).statusCode, 200, 'the earlier access token still works')
        const refreshed = await c.refresh()
        t.equal(refreshed.statusCode, 200, `${mode}: the refresh credential is untouched`)
        t.equal(claimsOf(refreshed.json().access_token).auth_time, after.auth_time, 'and a refresh keeps the new auth_time')
      }
    })

    t.test('a wrong password is 401 INVALID_CREDENTIALS and changes nothing; bad bodies are 400', async (t) => {
      const { c } = await signedIn(app, 'reauthbad')
      const sid = claimsOf(c.accessToken!).sid
      const stamp = (await app.prisma.session.findUniqueOrThrow({ where: { id: sid } })).authTime
      const res = await reauth(c, { password: 'not the password at all' })
      t.equal(res.statusCode, 401)
      t.equal(res.json().code, 'INVALID_CREDENTIALS')
      t.same((await app.prisma.session.findUniqueOrThrow({ where: { id: sid } })).authTime, stamp, 'the session is as it was')
      for (const body of [{}, { password: GOOD_PASSWORD, passkey: { id: 'x', response: {} } }, { code: '123456' }, { passkey: { id: 'x', response: {} }, code: '123456' }, { password: GOOD_PASSWORD, code: '12\u00003456' }]) {
        const bad = await reauth(c, body)
        t.equal(bad.statusCode, 400, JSON.stringify(body))
        t.equal(bad.json().code, 'VALIDATION')
      }
      t.equal((await c.request('POST', '/auth/reauthenticate', { body: { password: GOOD_PASSWORD }, bearer: false })).json().code, 'TOKEN_MISSING', 'a signed-in session only')
      await c.logout()
      const ended = await c.request('POST', '/auth/reauthenticate', { body: { password: GOOD_PASSWORD }, headers: { authorization: `Bearer ${c.accessToken}` } })
      t.equal(ended.json().code, 'TOKEN_REVOKED', 'an ended session cannot come back')
    })

    t.test('a user with TOTP: the password and a code (TOTP or recovery), amr pwd and otp; then MFA_REQUIRED is lifted', async (t) => {
      const { c: weak } = await signedIn(app, 'reauthtotp')
      const totp = await enableTotp(weak)
      t.equal((await weak.request('POST', '/auth/passkeys/registration/options')).json().code, 'MFA_REQUIRED')
      const noCode = await reauth(weak, { password: GOOD_PASSWORD })
      t.equal(noCode.statusCode, 401)
      t.equal(noCode.json().code, 'MFA_REQUIRED', 'no code: the second factor is asked for')
      const right = totp.generate()
      const wrong = await reauth(weak, { password: GOOD_PASSWORD, code: right === '000000' ? '111111' : '000000' })
      t.equal(wrong.statusCode, 401)
      t.equal(wrong.json().code, 'MFA_CODE_INVALID')
      t.equal((await reauth(weak, { password: 'a wrong password again', code: right })).json().code, 'INVALID_CREDENTIALS', 'a right code with a wrong password')
      const ok = await reauth(weak, { password: GOOD_PASSWORD, code: right })
      t.equal(ok.statusCode, 200)
      t.same(claimsOf(ok.json().access_token).amr, ['pwd', 'otp'])
      t.equal((await reauth(weak, { password: GOOD_PASSWORD, code: right })).json().code, 'MFA_CODE_INVALID', 'the code was spent')
      const options = await weak.request('POST', '/auth/passkeys/registration/options')
      t.equal(options.statusCode, 200, 'the same session may now register a passkey')
      const refreshed = await weak.refresh()
      t.same(claimsOf(refreshed.json().access_token).amr, ['pwd', 'otp'], 'and keeps that across refreshes')
      const recovery = await weak.request('POST', '/auth/mfa/totp/confirm', { body: { code: '1' } })
      t.equal(recovery.json().code, 'MFA_ALREADY_ENABLED')
    })

    t.test('wrong codes at reauthentication share the login second step\'s limit: 5 in 15 minutes', async (t) => {
      const { c, name } = await signedIn(app, 'reauthcodes')
      const totp = await enableTotp(c)
      const valid = new Set([-2, -1, 0, 1, 2].map((d) => totp.generate({ timestamp: Date.now() + d * 30_000 })))
      const wrong = ['111111', '222222', '333333', '444444', '555555', '666666', '777777'].filter((x) => !valid.has(x)).slice(0, 5)
      for (const code of wrong) t.equal((await reauth(c, { password: GOOD_PASSWORD, code })).json().code, 'MFA_CODE_INVALID')
      t.equal((await reauth(c, { password: GOOD_PASSWORD, code: totp.generate() })).statusCode, 429, 'then even the right code waits')
      const step1 = (await new Client(app, 'header').login(name, GOOD_PASSWORD)).json()
      t.equal((await new Client(app, 'header').request('POST', '/auth/login/mfa', { body: { mfa_token: step1.mfa_token, code: totp.generate() }, bearer: false })).statusCode, 429, 'and so does a login\'s second step')
    })

    t.test('with a passkey of this user: amr from the authenticator; another user\'s passkey is refused', async (t) => {
      const { c, name, auth } = await withPasskey(app, 'reauthpk')
      await app.prisma.session.update({ where: { id: claimsOf(c.accessToken!).sid }, data: { authTime: new Date(Date.now() - 3600_000) } })
      const ok = await reauth(c, { passkey: await assertionFor(c, auth) })
      t.equal(ok.statusCode, 200)
      t.same(claimsOf(ok.json().access_token).amr, ['hwk', 'user'])
      t.equal((await reauth(c, { passkey: await assertionFor(c, auth, name) })).statusCode, 200, 'options for the named user do too')

      const other = await withPasskey(app, 'reauthpk2')
      const theirs = other.auth.credentials[0].id.toString('base64url')
      const counter = (await app.prisma.passkey.findUniqueOrThrow({ where: { id: theirs } })).counter
      const refused = await reauth(c, { passkey: await assertionFor(c, other.auth) })
      t.equal(refused.statusCode, 401)
      t.equal(refused.json().code, 'PASSKEY_INVALID', "another user's passkey does not reauthenticate this session")
      t.equal((await app.prisma.passkey.findUniqueOrThrow({ where: { id: theirs } })).counter, counter, 'and nothing of theirs was spent')
      t.same(claimsOf(c.accessToken!).amr, ['hwk', 'user'], 'the session is as the last success left it')
      const replay = await assertionFor(c, auth)
      t.equal((await reauth(c, { passkey: replay })).statusCode, 200)
      t.equal((await reauth(c, { passkey: replay })).json().code, 'PASSKEY_INVALID', 'a spent challenge')
    })

    t.test('a DPoP-bound session: the new token is bound to the same key, and the request needs a proof', async (t) => {
      const { name } = await signedIn(app, 'reauthdpop')
      const key = await dpopKey()
      const login = await app.inject({ method: 'POST', url: '/auth/login', headers: { 'x-auth-mode': 'header', dpop: await key.proof('POST', '/auth/login') }, payload: { username: name, password: GOOD_PASSWORD } })
      const token = login.json().access_token
      const send = async (authorization: string, proof?: string) => app.inject({ method: 'POST', url: '/auth/reauthenticate', headers: { authorization, ...(proof !== undefined ? { dpop: proof } : {}) }, payload: { password: GOOD_PASSWORD } })
      t.equal((await send(`Bearer ${token}`)).json().code, 'TOKEN_INVALID', 'a bound token as Bearer')
      t.equal((await send(`DPoP ${token}`)).json().code, 'DPOP_PROOF_INVALID', 'no proof')
      const other = await dpopKey()
      t.equal((await send(`DPoP ${token}`, await other.proof('POST', '/auth/reauthenticate', { accessToken: token }))).json().code, 'DPOP_PROOF_INVALID', 'a proof by another key')
      const res = await send(`DPoP ${token}`, await key.proof('POST', '/auth/reauthenticate', { accessToken: token }))
      t.equal(res.statusCode, 200)
      t.equal(res.json().token_type, 'DPoP')
      const claims = claimsOf(res.json().access_token)
      t.same(claims.cnf, { jkt: key.jkt }, 'bound to the same key')
      t.equal(claims.sid, claimsOf(token).sid)
    })
  })
}

t.test('wrong passwords at reauthentication count as failed logins', async (t) => {
  const { app } = await buildApp(t, { backend: 'embedded', env: { RATE_LIMIT: 'on' } })
  const { c, name } = await signedIn(app, 'reauthlimit')
  const codes: number[] = []
  for (let i = 0; i < 11; i++) codes.push((await reauth(c, { password: 'a wrong password here' })).statusCode)
  t.same(codes.slice(0, 10), Array(10).fill(401))
  t.equal(codes[10], 429, 'the eleventh wrong password from this address is throttled like a login')
  t.equal((await new Client(app, 'header').login(name, GOOD_PASSWORD)).statusCode, 429, 'and a login of that account from this address waits too')
  t.equal((await reauth(c, { password: GOOD_PASSWORD })).statusCode, 429, 'as does the right password')
})
