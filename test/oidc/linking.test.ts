// Who a provider's identity signs in as: linking by a verified email only
// under the trusted rule, new accounts otherwise, linking and unlinking while
// signed in (step-up), never the last way in, the second step for a user
// with TOTP, and a first password for an account made by a provider.
import t from 'tap'
import * as OTPAuth from 'otpauth'
import type { FastifyInstance } from 'fastify'
import { backends } from '../helpers/app.ts'
import { Client, GOOD_PASSWORD, signedIn } from '../helpers/client.ts'
import { PersonBrowser, SPA, fragmentOf, oidcApp, pathOf, signInThrough } from '../helpers/oidc.ts'
import type { Idp } from '../helpers/oidc-provider.ts'
import { SoftAuthenticator, passkeySession } from '../helpers/authenticator.ts'

const claimsOf = (token: string) => JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString())

/** A header-mode sign-in at the provider, exchanged: the user's id and a client holding the session. */
async function federated (app: FastifyInstance, idp: Idp, sub: string, provider = 'corp') {
  const { fragment } = await signInThrough(app, idp, sub, { mode: 'header', provider })
  const code = fragment.get('login_code')
  if (code === null) return { error: fragment.get('error'), mfaToken: fragment.get('mfa_token') }
  const res = await app.inject({ method: 'POST', url: '/auth/oidc/exchange', payload: { login_code: code } })
  const c = new Client(app, 'header')
  c.accessToken = res.json().access_token
  c.refreshToken = res.json().refresh_token
  return { userId: res.json().user.id as string, username: res.json().user.username as string, c }
}

/** Marks a password account's address verified, as a verification mail would. */
async function verifiedEmail (app: FastifyInstance, username: string, email: string) {
  await app.prisma.user.update({ where: { usernameKey: username.toLowerCase() }, data: { email, emailVerified: true, verifiedEmailKey: email.toLowerCase() } })
  return (await app.prisma.user.findUniqueOrThrow({ where: { usernameKey: username.toLowerCase() } })).id
}

for (const backend of backends) {
  t.test(`${backend}: a verified email links only when the provider is trusted and says so`, async (t) => {
    const { app, idps } = await oidcApp(t, backend, { specs: [{ name: 'corp', trustEmail: true }, { name: 'social' }] })
    const { name } = await signedIn(app, 'owner')
    const ownerId = await verifiedEmail(app, name, 'Owner@Example.test')

    // Trusted provider, verified address (another case): the owner's account.
    idps.corp.accounts.set('o-1', { sub: 'o-1', email: 'owner@example.test', email_verified: true })
    const linked = await federated(app, idps.corp, 'o-1')
    t.equal(linked.userId, ownerId, 'linked to the account that verified the address')
    t.equal((await new Client(app, 'header').login(name, GOOD_PASSWORD)).statusCode, 200, 'its password still works')

    // Trusted provider, address not verified by the provider: a new account.
    idps.corp.accounts.set('o-2', { sub: 'o-2', email: 'owner@example.test', email_verified: false, preferred_username: name })
    const unverified = await federated(app, idps.corp, 'o-2')
    t.not(unverified.userId, ownerId, 'an unverified address links nothing')
    t.match(unverified.username, new RegExp(`^${name}-\\d+$`), 'the taken username made unique')

    // Untrusted provider, verified address: a new account too.
    idps.social.accounts.set('o-3', { sub: 'o-3', email: 'owner@example.test', email_verified: true })
    const untrusted = await federated(app, idps.social, 'o-3', 'social')
    t.not(untrusted.userId, ownerId, 'a provider not trusted for emails links nothing')
    t.equal(untrusted.username, 'owner', 'username from the email\'s local part')
    const made = await app.prisma.user.findUniqueOrThrow({ where: { id: untrusted.userId! } })
    t.equal(made.emailVerified, false, 'an untrusted address is not the account\'s verified address')
    t.equal(made.passwordHash, null, 'no password')
  })

  t.test(`${backend}: linking while signed in, and an identity that belongs to someone else`, async (t) => {
    const { app, idp } = await oidcApp(t, backend)
    const { c } = await signedIn(app, 'linker', 'cookie')
    const browser = new PersonBrowser()
    // The SPA asks for the URL; the browser (with the service's cookies) goes there.
    const asked = await c.request('POST', '/auth/oidc/corp/link', { body: { return_to: `${SPA}/security` } })
    t.equal(asked.statusCode, 200)
    browser.absorb(asked)
    idp.accounts.set('l-1', { sub: 'l-1', email: 'l1@corp.test' })
    const cb = await idp.authorize(asked.json().url, 'l-1', { browser: browser.at(idp) })
    const back = await browser.get(app, pathOf(cb))
    t.equal(back.headers.location, `${SPA}/security#linked=corp`)
    const list = (await c.request('GET', '/auth/identities')).json()
    t.match(list, [{ provider: 'corp', email: 'l1@corp.test' }])
    // That identity now signs in to this account.
    const signed = await federated(app, idp, 'l-1')
    t.equal(signed.userId, claimsOf(c.accessToken!).sub, 'the linked identity signs in as the linker')

    // Someone else tries to link the same identity: refused, it stays the linker's.
    const other = await signedIn(app, 'other', 'cookie')
    const otherBrowser = new PersonBrowser()
    const asked2 = await other.c.request('POST', '/auth/oidc/corp/link', { body: { return_to: `${SPA}/security` } })
    otherBrowser.absorb(asked2)
    const cb2 = await idp.authorize(asked2.json().url, 'l-1', { browser: otherBrowser.at(idp) })
    const taken = await otherBrowser.get(app, pathOf(cb2))
    t.equal(fragmentOf(taken).get('error'), 'IDENTITY_TAKEN')
    t.same((await other.c.request('GET', '/auth/identities')).json(), [])

    // The link's callback in another browser (no binding cookie): refused.
    const asked3 = await other.c.request('POST', '/auth/oidc/corp/link', { body: { return_to: `${SPA}/security` } })
    idp.accounts.set('l-2', { sub: 'l-2' })
    const stranger = new PersonBrowser()
    const cb3 = await idp.authorize(asked3.json().url, 'l-2', { browser: stranger.at(idp) })
    t.equal(fragmentOf(await stranger.get(app, pathOf(cb3))).get('error'), 'OIDC_STATE_INVALID')
    t.same((await other.c.request('GET', '/auth/identities')).json(), [], 'nothing linked')

    t.equal((await c.request('POST', '/auth/oidc/corp/link', { body: { return_to: 'https://evil.example/' } })).json().code, 'RETURN_TO_INVALID')
    t.equal((await c.request('POST', '/auth/oidc/corp/link', { body: { return_to: `${SPA}/x` }, bearer: false })).statusCode, 401)
  })

  t.test(`${backend}: link and unlink need step-up; the last way in stays`, async (t) => {
    const { app, idp } = await oidcApp(t, backend, { env: { REAUTH_MAX_AGE: '10' } })
    idp.accounts.set('u-1', { sub: 'u-1', preferred_username: 'unlinker' })
    const fed = await federated(app, idp, 'u-1')
    const c = fed.c!
    const [identity] = (await c.request('GET', '/auth/identities')).json()
    const last = await c.request('DELETE', `/auth/identities/${identity.id}`)
    t.equal(last.statusCode, 409)
    t.equal(last.json().code, 'LAST_SIGN_IN_METHOD', 'no password, no passkey, no other identity')
    t.equal((await c.request('DELETE', '/auth/identities/00000000-0000-4000-8000-000000000000')).statusCode, 404)

    // A first password (full step-up: a fresh sign-in), then the identity may go.
    const set = await c.request('POST', '/auth/password', { body: { new_password: GOOD_PASSWORD } })
    t.equal(set.statusCode, 204)
    t.equal((await c.request('POST', '/auth/password', { body: { current_password: 'x', new_password: GOOD_PASSWORD } })).statusCode, 401, 'now the current password is asked for')
    t.equal((await new Client(app, 'header').login(fed.username!, GOOD_PASSWORD)).statusCode, 200, 'the account signs in with its new password')
    // Another session opened through the identity ends with the unlink; this one stays.
    const otherSession = await federated(app, idp, 'u-1')
    t.equal((await c.request('DELETE', `/auth/identities/${identity.id}`)).statusCode, 204)
    t.same((await c.request('GET', '/auth/identities')).json(), [])
    t.equal((await c.me()).statusCode, 200, 'the unlinking session stays')
    t.equal((await otherSession.c!.me()).json().code, 'TOKEN_REVOKED', 'a session the identity opened ends')
    // The identity is a stranger now: signing in with it makes a new account.
    const fresh = await federated(app, idp, 'u-1')
    t.not(fresh.userId, fed.userId)

    // Past REAUTH_MAX_AGE: link and unlink ask for a fresh sign-in.
    const stale = await federated(app, idp, 'u-1')
    await app.prisma.session.updateMany({ where: { userId: stale.userId }, data: { authTime: new Date(Date.now() - 60_000) } })
    t.equal((await stale.c!.refresh()).statusCode, 200)
    t.equal((await stale.c!.request('POST', '/auth/oidc/corp/link', { body: { return_to: `${SPA}/x` } })).json().code, 'REAUTH_REQUIRED')
    const [mine] = (await stale.c!.request('GET', '/auth/identities')).json()
    t.equal((await stale.c!.request('DELETE', `/auth/identities/${mine.id}`)).json().code, 'REAUTH_REQUIRED')
    t.equal((await stale.c!.request('POST', '/auth/password', { body: { new_password: GOOD_PASSWORD } })).json().code, 'REAUTH_REQUIRED', 'a first password needs a recent sign-in')
  })

  t.test(`${backend}: a user with TOTP finishes a provider sign-in with the second step`, async (t) => {
    const { app, idp } = await oidcApp(t, backend)
    idp.accounts.set('m-1', { sub: 'm-1', preferred_username: 'totpfed' })
    const fed = await federated(app, idp, 'm-1')
    const c = fed.c!
    const secret = (await c.request('POST', '/auth/mfa/totp')).json().secret
    const totp = new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(secret), digits: 6, period: 30, algorithm: 'SHA1' })
    t.equal((await c.request('POST', '/auth/mfa/totp/confirm', { body: { code: totp.generate({ timestamp: Date.now() - 30_000 }) } })).statusCode, 200)

    for (const mode of ['cookie', 'header'] as const) {
      const { fragment, callback } = await signInThrough(app, idp, 'm-1', { mode })
      t.notOk(String(callback.headers['set-cookie'] ?? '').includes('refresh_token='), `${mode}: no session before the second step`)
      const mfaToken = fragment.get('mfa_token')
      t.ok(mfaToken, `${mode}: #mfa_token`)
      const second = new Client(app, mode)
      const done = await second.request('POST', '/auth/login/mfa', { body: { mfa_token: mfaToken, code: totp.generate({ timestamp: Date.now() + (mode === 'cookie' ? 0 : 30_000) }) }, bearer: false })
      t.equal(done.statusCode, 200)
      t.same(claimsOf(done.json().access_token).amr, ['fed', 'otp'], `${mode}: amr fed + otp`)
    }
  })

  t.test(`${backend}: a passkey that is the last way in stays`, async (t) => {
    const { app, idp } = await oidcApp(t, backend)
    idp.accounts.set('p-1', { sub: 'p-1', preferred_username: 'keyonly' })
    const fed = await federated(app, idp, 'p-1')
    const auth = new SoftAuthenticator('http://localhost:3000')
    const options = (await fed.c!.request('POST', '/auth/passkeys/registration/options')).json()
    const created = await fed.c!.request('POST', '/auth/passkeys/registration', { body: { response: auth.register(options), name: 'Laptop' } })
    t.equal(created.statusCode, 201)
    const strong = await passkeySession(app, auth)
    const [identity] = (await strong.request('GET', '/auth/identities')).json()
    t.equal((await strong.request('DELETE', `/auth/identities/${identity.id}`)).statusCode, 204, 'the passkey is a way in: the identity may go')
    const last = await strong.request('DELETE', `/auth/passkeys/${created.json().id}`)
    t.equal(last.statusCode, 409)
    t.equal(last.json().code, 'LAST_SIGN_IN_METHOD', 'no password, no identity: the last passkey stays')
    t.equal((await strong.request('GET', '/auth/passkeys')).json().length, 1)
  })
}
