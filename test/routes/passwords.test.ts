// Passwords over an account's life (docs/api.md "Passwords over an account's
// life"): change, operator reset, re-hash at login, on both backends.
import t from 'tap'
import * as OTPAuth from 'otpauth'
import type { FastifyInstance } from 'fastify'
import { buildApp, backends } from '../helpers/app.ts'
import { Client, GOOD_PASSWORD, signedIn, uniqueName } from '../helpers/client.ts'
import { createPasswordHasher, bcryptCost } from '../../src/passwords/hasher.ts'

const ADMIN = { username: 'pw-admin', password: 'the password admin passphrase' }
const NEW_PASSWORD = 'a brand new passphrase for this'

const bearer = (app: FastifyInstance, token: string, url = '/auth/me') => app.inject({ url, headers: { authorization: `Bearer ${token}` } })
const change = (c: Client, current: string, next: string) => c.request('POST', '/auth/password', { body: { current_password: current, new_password: next } })

/** Two sessions of one user, one per client mode. */
async function twoSessions (app: FastifyInstance) {
  const { c: a, name } = await signedIn(app, 'pw', 'header')
  const b = new Client(app, 'cookie')
  if ((await b.login(name, GOOD_PASSWORD)).statusCode !== 200) throw new Error('second login')
  return { a, b, name }
}

/** Enables TOTP for a signed-in client; returns the TOTP generator. */
export async function enableTotp (c: Client): Promise<OTPAuth.TOTP> {
  const enrol = await c.request('POST', '/auth/mfa/totp')
  const totp = new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(enrol.json().secret), digits: 6, period: 30, algorithm: 'SHA1' })
  const res = await c.request('POST', '/auth/mfa/totp/confirm', { body: { code: totp.generate() } })
  if (res.statusCode !== 200) throw new Error(`confirm: ${res.statusCode} ${res.body}`)
  return totp
}

for (const backend of backends) {
  t.test(`${backend} backend`, async (t) => {
    const { app } = await buildApp(t, { backend, env: { ADMIN_USERNAME: ADMIN.username, ADMIN_PASSWORD: ADMIN.password } })
    const admin = new Client(app, 'header')
    t.equal((await admin.login(ADMIN.username, ADMIN.password)).statusCode, 200)

    t.test('a password change ends every other session at once; the calling one stays', async (t) => {
      const { a, b, name } = await twoSessions(app)
      const third = new Client(app, 'header')
      await third.login(name, GOOD_PASSWORD)
      const before = { b: b.accessToken!, third: third.accessToken! }
      t.equal((await bearer(app, before.b)).statusCode, 200)

      const res = await change(a, GOOD_PASSWORD, NEW_PASSWORD)
      t.equal(res.statusCode, 204)
      t.equal((await a.me()).statusCode, 200, "the caller's access token still works")
      t.equal((await a.refresh()).statusCode, 200, "and so does the caller's refresh token")
      for (const token of Object.values(before)) {
        const me = await bearer(app, token)
        t.equal(me.statusCode, 401, "another session's access token is refused at once")
        t.equal(me.json().code, 'TOKEN_REVOKED')
      }
      t.equal((await b.refresh()).json().code, 'INVALID_REFRESH_TOKEN', "another session's refresh token is refused")
      t.equal((await third.refresh()).statusCode, 401)
      t.equal((await new Client(app, 'header').login(name, GOOD_PASSWORD)).json().code, 'INVALID_CREDENTIALS', 'the old password is refused')
      t.equal((await new Client(app, 'header').login(name, NEW_PASSWORD)).statusCode, 200, 'the new one works')
      const sessions = (await a.request('GET', '/auth/sessions')).json()
      t.equal(sessions.length, 2, 'the caller and the new login remain')
    })

    t.test('a wrong current password is 401 INVALID_CREDENTIALS and changes nothing', async (t) => {
      const { a, b } = await twoSessions(app)
      const res = await change(a, 'not the current password', NEW_PASSWORD)
      t.equal(res.statusCode, 401)
      t.equal(res.json().code, 'INVALID_CREDENTIALS')
      t.equal((await b.me()).statusCode, 200, 'no session ended')
    })

    t.test('the new password follows the rules', async (t) => {
      const { c: a } = await signedIn(app, 'pwrules')
      for (const [next, code] of [['short', 'VALIDATION'], ['password123', 'PASSWORD_TOO_COMMON'], [GOOD_PASSWORD, 'PASSWORD_UNCHANGED']]) {
        const res = await change(a, GOOD_PASSWORD, next)
        t.equal(res.statusCode, 400, next)
        t.equal(res.json().code, code)
      }
      t.equal((await change(a, GOOD_PASSWORD, 'x'.repeat(2000))).statusCode, 400, 'an absurd length is refused by the schema')
      t.equal((await a.request('POST', '/auth/password', { body: { current_password: GOOD_PASSWORD } })).json().code, 'VALIDATION')
      t.equal((await a.request('POST', '/auth/password', { body: { current_password: GOOD_PASSWORD, new_password: NEW_PASSWORD }, bearer: false })).json().code, 'TOKEN_MISSING')
    })

    t.test('a user with TOTP changes the password only from a session that used it', async (t) => {
      const { c, name } = await signedIn(app, 'pwmfa')
      const totp = await enableTotp(c)
      const res = await change(c, GOOD_PASSWORD, NEW_PASSWORD)
      t.equal(res.statusCode, 401)
      t.equal(res.json().code, 'MFA_REQUIRED', 'this session signed in with the password alone')
      const step1 = (await new Client(app, 'header').login(name, GOOD_PASSWORD)).json()
      const strong = new Client(app, 'header')
      // The code of the next step: the confirmation used this one (one use per code).
      const code = totp.generate({ timestamp: Date.now() + 30_000 })
      t.equal((await strong.request('POST', '/auth/login/mfa', { body: { mfa_token: step1.mfa_token, code }, bearer: false })).statusCode, 200)
      t.equal((await change(strong, GOOD_PASSWORD, NEW_PASSWORD)).statusCode, 204, 'a session that used TOTP may')
      t.equal((await c.me()).json().code, 'TOKEN_REVOKED', 'and the weaker session ended')
    })

    t.test('an admin reset: a one-time token, every session ends, the token sets the password once', async (t) => {
      const { a, b, name } = await twoSessions(app)
      const id = (await a.me()).json().id
      const issued = await admin.request('POST', `/admin/users/${id}/password-reset`)
      t.equal(issued.statusCode, 200)
      t.equal(issued.headers['cache-control'], 'no-store')
      const { reset_token: token, expires_in: expiresIn } = issued.json()
      t.equal(expiresIn, 900)
      t.match(token, /^[A-Za-z0-9_-]{43}$/)
      t.equal((await a.me()).json().code, 'TOKEN_REVOKED', 'every session ends when the reset is issued')
      t.equal((await b.refresh()).statusCode, 401)
      t.equal(await app.prisma.passwordReset.count({ where: { tokenHash: token } }), 0, 'the token itself is not stored')

      const anon = new Client(app, 'header')
      const common = await anon.request('POST', '/auth/password/reset', { body: { reset_token: token, new_password: 'password123' } })
      t.equal(common.json().code, 'PASSWORD_TOO_COMMON', 'the password rules hold')
      t.equal((await anon.request('POST', '/auth/password/reset', { body: { reset_token: token, new_password: NEW_PASSWORD } })).statusCode, 204, 'a refused password did not spend the token')
      const again = await anon.request('POST', '/auth/password/reset', { body: { reset_token: token, new_password: 'yet another fine passphrase' } })
      t.equal(again.statusCode, 400)
      t.equal(again.json().code, 'INVALID_RESET_TOKEN', 'spent')
      t.equal((await anon.login(name, GOOD_PASSWORD)).statusCode, 401, 'the old password is gone')
      t.equal((await anon.login(name, NEW_PASSWORD)).statusCode, 200, 'the new one works')
    })

    t.test('reset tokens: unknown, expired and replaced ones are one code; non-admins and unknown users', async (t) => {
      const { c: a } = await signedIn(app, 'pwreset')
      const id = (await a.me()).json().id
      const anon = new Client(app, 'header')
      const use = (token: string) => anon.request('POST', '/auth/password/reset', { body: { reset_token: token, new_password: NEW_PASSWORD } })
      t.equal((await use('A'.repeat(43))).json().code, 'INVALID_RESET_TOKEN', 'unknown')
      t.equal((await use('not a token')).json().code, 'INVALID_RESET_TOKEN', 'malformed')
      const first = (await admin.request('POST', `/admin/users/${id}/password-reset`)).json().reset_token
      const second = (await admin.request('POST', `/admin/users/${id}/password-reset`)).json().reset_token
      t.equal((await use(first)).json().code, 'INVALID_RESET_TOKEN', 'a newer reset replaces the older')
      await app.prisma.passwordReset.updateMany({ where: { userId: id }, data: { expiresAt: new Date(Date.now() - 1000) } })
      t.equal((await use(second)).json().code, 'INVALID_RESET_TOKEN', 'expired')
      t.equal((await a.request('POST', `/admin/users/${id}/password-reset`)).statusCode, 401, 'the user was signed out by the resets')
      const other = (await signedIn(app, 'pwnonadmin')).c
      t.equal((await other.request('POST', `/admin/users/${id}/password-reset`)).statusCode, 403, 'not an admin')
      t.equal((await admin.request('POST', '/admin/users/00000000-0000-4000-8000-000000000000/password-reset')).statusCode, 404)
      t.equal((await admin.request('POST', '/admin/users/nope/password-reset')).statusCode, 404)
    })

    t.test('a hash of another cost is re-hashed at the next successful login, and costs do not tell users apart', async (t) => {
      const name = uniqueName('rehash')
      const c = new Client(app, 'header')
      await c.register(name, GOOD_PASSWORD)
      const dear = createPasswordHasher({ cost: 6, workers: 1 })
      t.teardown(() => dear.close())
      await app.prisma.user.update({ where: { usernameKey: name.toLowerCase() }, data: { passwordHash: await dear.hash(GOOD_PASSWORD) } })
      // As at a start-up: comparisons now cost what the dearest stored hash costs.
      t.equal(await app.accounts.raiseCostToStored(), 6)
      const cheap = uniqueName('cheap')
      await new Client(app, 'header').register(cheap, GOOD_PASSWORD)

      const workOf = async (fn: () => Promise<unknown>) => { const w0 = app.passwords.work(); await fn(); return app.passwords.work() - w0 }
      const unknown = await workOf(() => new Client(app, 'header').login(uniqueName('nobody'), GOOD_PASSWORD))
      const wrongDear = await workOf(() => new Client(app, 'header').login(name, 'a wrong password here'))
      const wrongCheap = await workOf(() => new Client(app, 'header').login(cheap, 'a wrong password here'))
      t.equal(unknown, 2 ** 6, 'an unknown user costs one comparison at the dearest stored cost')
      t.equal(wrongDear, unknown, 'a user with the old, dearer hash costs the same')
      t.equal(wrongCheap, unknown, 'a user with a cheaper hash is padded to the same')

      t.equal((await c.login(name, GOOD_PASSWORD)).statusCode, 200)
      const stored = (await app.prisma.user.findUniqueOrThrow({ where: { usernameKey: name.toLowerCase() } })).passwordHash
      t.equal(bcryptCost(stored!), 4, 're-hashed at BCRYPT_COST')
      t.equal((await c.me()).statusCode, 200, 'the login that re-hashed is a normal session')
      t.equal((await new Client(app, 'header').login(name, GOOD_PASSWORD)).statusCode, 200, 'the re-hashed password logs in')
    })
  })
}

t.test('a password change ends the other sessions on another instance at once', async (t) => {
  const first = await buildApp(t, { backend: 'real' })
  const second = await buildApp(t, { backend: 'real', databaseUrl: first.databaseUrl, redis: first.redis })
  for (let round = 0; round < 10; round++) {
    const { c: a, name } = await signedIn(first.app, 'pwmulti')
    const b = new Client(second.app, 'header')
    await b.login(name, GOOD_PASSWORD)
    t.equal((await b.me()).statusCode, 200)
    t.equal((await change(a, GOOD_PASSWORD, NEW_PASSWORD)).statusCode, 204)
    // No wait: the answer comes after the revocation reached every instance's mirror path.
    t.equal((await b.me()).json().code, 'TOKEN_REVOKED', 'refused on the other instance right after the change')
    t.equal((await bearer(second.app, a.accessToken!)).statusCode, 200, "the caller's token works there too")
  }
})

t.test('wrong current passwords count as failed logins', async (t) => {
  const { app } = await buildApp(t, { backend: 'embedded', env: { RATE_LIMIT: 'on' } })
  const { c } = await signedIn(app, 'pwlimit')
  const codes: number[] = []
  for (let i = 0; i < 11; i++) codes.push((await change(c, 'a wrong current password', NEW_PASSWORD)).statusCode)
  t.same(codes.slice(0, 10), Array(10).fill(401))
  t.equal(codes[10], 429, 'the eleventh wrong password from this address is throttled like a login')
})
