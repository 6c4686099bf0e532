// Step-up before a sensitive change (docs/api.md "Changing how an account
// signs in"): a user with a second factor must have used one in this session,
// and the session must have signed in within REAUTH_MAX_AGE; on both backends.
import t, { type Test } from 'tap'
import * as OTPAuth from 'otpauth'
import type { FastifyInstance } from 'fastify'
import { buildApp, backends } from '../helpers/app.ts'
import { Client, GOOD_PASSWORD, signedIn } from '../helpers/client.ts'
import { SoftAuthenticator, passkeySession } from '../helpers/authenticator.ts'

const ORIGIN = 'http://localhost:3000'
const NEW_PASSWORD = 'a brand new passphrase for this'
const claimsOf = (token: string) => JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString())

/** Enables TOTP from `c` (a session with no factor yet); the generator. */
async function enableTotp (c: Client): Promise<OTPAuth.TOTP> {
  const enrol = await c.request('POST', '/auth/mfa/totp')
  if (enrol.statusCode !== 200) throw new Error(`enrol: ${enrol.statusCode} ${enrol.body}`)
  const totp = new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(enrol.json().secret), digits: 6, period: 30, algorithm: 'SHA1' })
  const res = await c.request('POST', '/auth/mfa/totp/confirm', { body: { code: totp.generate({ timestamp: Date.now() - 30_000 }) } })
  if (res.statusCode !== 200) throw new Error(`confirm: ${res.statusCode} ${res.body}`)
  return totp
}

async function registerPasskey (c: Client, auth: SoftAuthenticator) {
  const options = (await c.request('POST', '/auth/passkeys/registration/options')).json()
  const res = await c.request('POST', '/auth/passkeys/registration', { body: { response: auth.register(options) } })
  if (res.statusCode !== 201) throw new Error(`register a passkey: ${res.statusCode} ${res.body}`)
  return res.json().id as string
}

/** The session signed in `seconds` ago, as the database says; a refresh carries it into the access token. */
async function ageSession (app: FastifyInstance, c: Client, seconds: number) {
  await app.prisma.session.update({ where: { id: claimsOf(c.accessToken!).sid }, data: { authTime: new Date(Date.now() - seconds * 1000) } })
  const res = await c.refresh()
  if (res.statusCode !== 200) throw new Error(`refresh: ${res.statusCode} ${res.body}`)
}

function refusedWith (t: Test, res: { statusCode: number, json: () => { code: string } }, code: string, what: string) {
  t.equal(res.statusCode, 401, what)
  t.equal(res.json().code, code, what)
}

for (const backend of backends) {
  t.test(`${backend} backend`, async (t) => {
    const { app } = await buildApp(t, { backend, env: { REAUTH_MAX_AGE: '10' } })

    t.test('a session opened with the password before TOTP was enabled cannot register a passkey, nor remove TOTP', async (t) => {
      // The defect: a stolen password session outlived the user's turning TOTP
      // on, registered its own passkey, and a passkey sign-in needs no second step.
      const { c: weak, name } = await signedIn(app, 'stepup')
      const totp = await enableTotp(weak)
      refusedWith(t, await weak.request('POST', '/auth/passkeys/registration/options'), 'MFA_REQUIRED', 'no registration options')
      const strong = new Client(app, 'header')
      const step1 = (await strong.login(name, GOOD_PASSWORD)).json()
      t.equal((await strong.request('POST', '/auth/login/mfa', { body: { mfa_token: step1.mfa_token, code: totp.generate() }, bearer: false })).statusCode, 200)
      const auth = new SoftAuthenticator(ORIGIN)
      const options = (await strong.request('POST', '/auth/passkeys/registration/options')).json()
      refusedWith(t, await weak.request('POST', '/auth/passkeys/registration', { body: { response: auth.register(options) } }), 'MFA_REQUIRED', 'nor a registration, even with options in hand')
      t.equal(await app.prisma.passkey.count({ where: { user: { usernameKey: name.toLowerCase() } } }), 0, 'no passkey was stored')
      refusedWith(t, await weak.request('DELETE', '/auth/mfa/totp', { body: { code: totp.generate({ timestamp: Date.now() + 30_000 }) } }), 'MFA_REQUIRED', 'no removal of TOTP')
      refusedWith(t, await weak.request('POST', '/auth/mfa/totp'), 'MFA_REQUIRED', 'no new enrolment')
      refusedWith(t, await weak.request('POST', '/auth/password', { body: { current_password: GOOD_PASSWORD, new_password: NEW_PASSWORD } }), 'MFA_REQUIRED', 'no password change')
      t.equal((await weak.me()).statusCode, 200, 'the session itself still works')

      t.equal((await strong.request('POST', '/auth/passkeys/registration', { body: { response: auth.register(options) } })).statusCode, 201, 'the session that used TOTP may')
      const passkeyId = (await strong.request('GET', '/auth/passkeys')).json()[0].id
      refusedWith(t, await weak.request('DELETE', `/auth/passkeys/${passkeyId}`), 'MFA_REQUIRED', 'no passkey deletion')
      t.equal((await strong.request('DELETE', `/auth/passkeys/${passkeyId}`)).statusCode, 204)
    })

    t.test('a passkey is a second factor: a password session of a passkey user may not change the password', async (t) => {
      const { c: weak, name } = await signedIn(app, 'pkonly')
      const auth = new SoftAuthenticator(ORIGIN)
      await registerPasskey(weak, auth)
      refusedWith(t, await weak.request('POST', '/auth/password', { body: { current_password: GOOD_PASSWORD, new_password: NEW_PASSWORD } }), 'MFA_REQUIRED', 'the password alone is not enough once the user has a passkey')
      refusedWith(t, await weak.request('POST', '/auth/mfa/totp'), 'MFA_REQUIRED', 'nor to start TOTP')
      const strong = await passkeySession(app, auth)
      t.equal((await strong.request('POST', '/auth/password', { body: { current_password: GOOD_PASSWORD, new_password: NEW_PASSWORD } })).statusCode, 204, 'a passkey session may')
      t.equal((await weak.me()).json().code, 'TOKEN_REVOKED', 'and the password session ended with the change')
      t.equal((await new Client(app, 'header').login(name, NEW_PASSWORD)).statusCode, 200)
    })

    t.test('a session older than REAUTH_MAX_AGE: REAUTH_REQUIRED on every sensitive change, then reauthenticate, then it goes through', async (t) => {
      const { c } = await signedIn(app, 'stale')
      await ageSession(app, c, 11)
      t.ok(Date.now() / 1000 - claimsOf(c.accessToken!).auth_time > 10, 'the token says the session signed in 11 s ago')
      const auth = new SoftAuthenticator(ORIGIN)
      const sensitive: Array<[string, () => ReturnType<Client['request']>]> = [
        ['POST /auth/mfa/totp', () => c.request('POST', '/auth/mfa/totp')],
        ['POST /auth/mfa/totp/confirm', () => c.request('POST', '/auth/mfa/totp/confirm', { body: { code: '123456' } })],
        ['DELETE /auth/mfa/totp', () => c.request('DELETE', '/auth/mfa/totp', { body: { code: '123456' } })],
        ['POST /auth/passkeys/registration/options', () => c.request('POST', '/auth/passkeys/registration/options')],
        ['POST /auth/passkeys/registration', () => c.request('POST', '/auth/passkeys/registration', { body: { response: auth.register({ challenge: 'AAAA', user: { id: 'AAAA' } }) } })],
        ['DELETE /auth/passkeys/:id', () => c.request('DELETE', '/auth/passkeys/AAAAAAAAAAAAAAAAAAAAAA')]
      ]
      for (const [route, call] of sensitive) refusedWith(t, await call(), 'REAUTH_REQUIRED', route)
      t.equal((await c.request('GET', '/auth/passkeys')).statusCode, 200, 'reading is not a change')

      const reauth = await c.request('POST', '/auth/reauthenticate', { body: { password: GOOD_PASSWORD } })
      t.equal(reauth.statusCode, 200)
      t.ok(Math.abs(claimsOf(c.accessToken!).auth_time - Date.now() / 1000) < 5, 'auth_time is now')
      t.equal((await c.request('POST', '/auth/mfa/totp')).statusCode, 200, 'the same call goes through')
      await registerPasskey(c, auth)
      t.pass('and a passkey registers')
    })

    t.test('a password change needs no recent sign-in: the current password is the proof', async (t) => {
      const { c } = await signedIn(app, 'stalepw')
      await ageSession(app, c, 3600)
      t.equal((await c.request('POST', '/auth/password', { body: { current_password: GOOD_PASSWORD, new_password: NEW_PASSWORD } })).statusCode, 204)
    })

    t.test('the step-up survives refreshes', async (t) => {
      const { c } = await signedIn(app, 'keeps')
      await ageSession(app, c, 60)
      t.equal((await c.request('POST', '/auth/reauthenticate', { body: { password: GOOD_PASSWORD } })).statusCode, 200)
      const refreshed = await c.refresh()
      t.equal(refreshed.statusCode, 200)
      t.ok(Math.abs(claimsOf(refreshed.json().access_token).auth_time - Date.now() / 1000) < 5, 'a refresh after reauthenticating keeps the new auth_time')
      t.equal((await c.request('POST', '/auth/mfa/totp')).statusCode, 200)
    })
  })
}
