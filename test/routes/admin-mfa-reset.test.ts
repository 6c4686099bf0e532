// DELETE /admin/users/:id/mfa (docs/api.md "Changing how an account signs
// in"): a user who lost their authenticator gets back in with the password.
import t from 'tap'
import * as OTPAuth from 'otpauth'
import { buildApp, backends } from '../helpers/app.ts'
import { Client, GOOD_PASSWORD, signedIn } from '../helpers/client.ts'
import { SoftAuthenticator } from '../helpers/authenticator.ts'

const ADMIN = { username: 'mfa-admin', password: 'the mfa admin passphrase here' }
const claimsOf = (token: string) => JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString())

for (const backend of backends) {
  t.test(`${backend} backend`, async (t) => {
    const { app } = await buildApp(t, { backend, env: { ADMIN_USERNAME: ADMIN.username, ADMIN_PASSWORD: ADMIN.password } })
    const admin = new Client(app, 'header')
    t.equal((await admin.login(ADMIN.username, ADMIN.password)).statusCode, 200)

    t.test('TOTP and recovery codes go, every session ends, the password alone signs in; passkeys stay', async (t) => {
      const { c, name } = await signedIn(app, 'lost')
      const id = (await c.me()).json().id
      const auth = new SoftAuthenticator('http://localhost:3000')
      const options = (await c.request('POST', '/auth/passkeys/registration/options')).json()
      t.equal((await c.request('POST', '/auth/passkeys/registration', { body: { response: auth.register(options) } })).statusCode, 201)
      // TOTP from a session that used the passkey (a passkey is a second factor).
      const strong = new Client(app, 'cookie')
      const o = (await strong.request('POST', '/auth/passkeys/authentication/options', { body: {} })).json()
      t.equal((await strong.request('POST', '/auth/passkeys/authentication', { body: { response: auth.authenticate(o) } })).statusCode, 200)
      const secret = (await strong.request('POST', '/auth/mfa/totp')).json().secret
      const totp = new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(secret), digits: 6, period: 30, algorithm: 'SHA1' })
      t.equal((await strong.request('POST', '/auth/mfa/totp/confirm', { body: { code: totp.generate() } })).statusCode, 200)
      const pending = (await new Client(app, 'header').login(name, GOOD_PASSWORD)).json()
      t.equal(pending.mfa_required, true, 'a password login asks for the code')

      const res = await admin.request('DELETE', `/admin/users/${id}/mfa`)
      t.equal(res.statusCode, 204)
      t.equal(res.body, '')
      t.equal((await c.me()).json().code, 'TOKEN_REVOKED', "the user's access tokens stop at once")
      t.equal((await strong.me()).json().code, 'TOKEN_REVOKED')
      t.equal((await strong.refresh()).json().code, 'INVALID_REFRESH_TOKEN', 'and their sessions end')
      t.equal(await app.prisma.totpFactor.count({ where: { userId: id } }), 0, 'the factor is gone')
      t.equal(await app.prisma.recoveryCode.count({ where: { userId: id } }), 0, 'and its recovery codes')
      t.equal((await new Client(app, 'header').request('POST', '/auth/login/mfa', { body: { mfa_token: pending.mfa_token, code: totp.generate({ timestamp: Date.now() + 30_000 }) }, bearer: false })).json().code, 'MFA_TOKEN_INVALID', 'a second step in flight is void')
      const back = new Client(app, 'header')
      const login = await back.login(name, GOOD_PASSWORD)
      t.type(login.json().access_token, 'string', 'the password alone signs in')
      t.same(claimsOf(login.json().access_token).amr, ['pwd'])
      t.same((await back.request('GET', '/auth/mfa')).json(), { totp: false, recovery_codes_left: 0, passkeys: 1 }, 'the passkey is still there')
      t.equal((await back.request('POST', '/auth/mfa/totp')).json().code, 'MFA_REQUIRED', 'so enrolling again needs the passkey (or the admin deletes the account)')
    })

    t.test('404 for an unknown user, 403 for a non-admin', async (t) => {
      t.equal((await admin.request('DELETE', '/admin/users/00000000-0000-4000-8000-000000000000/mfa')).statusCode, 404)
      t.equal((await admin.request('DELETE', '/admin/users/nope/mfa')).json().code, 'NOT_FOUND')
      const { c } = await signedIn(app, 'notadmin')
      const id = (await c.me()).json().id
      t.equal((await c.request('DELETE', `/admin/users/${id}/mfa`)).json().code, 'FORBIDDEN')
      t.equal((await c.me()).statusCode, 200, 'nothing happened')
    })
  })
}
