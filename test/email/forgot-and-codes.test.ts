// Forgot-password and sign-in codes: the mailed reset link spends the same
// token as an admin's, a code signs in as a login does, and nothing in the
// answers tells a known address from an unknown one.
import t from 'tap'
import * as OTPAuth from 'otpauth'
import { backends } from '../helpers/app.ts'
import { Client, GOOD_PASSWORD, parseSetCookies } from '../helpers/client.ts'
import { linkToken, mailedCode } from '../helpers/smtp.ts'
import { LINK_BASE, emailApp, mailsTo, newAddress, settle, verifiedUser } from './setup.ts'

const ACCEPTED = { message: 'Accepted: if the address can receive mail, a message is on its way' }
const claims = (token: string) => JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString())

for (const backend of backends) {
  t.test(`${backend}: forgot my password, by address or by username: the mailed link sets a new password`, async (t) => {
    const { app, sink } = await emailApp(t, backend)
    const { c, name, email } = await verifiedUser(app, sink)
    for (const [i, body] of [{ email: email.toUpperCase() }, { username: name }].entries()) {
      const res = await app.inject({ method: 'POST', url: '/auth/password/forgot', payload: body })
      t.equal(res.statusCode, 202)
      t.same(res.json(), ACCEPTED)
      const mail = (await mailsTo(sink, email, 2 + i))[1 + i]
      t.equal(mail.subject, 'Reset your password')
      t.match(mail.text, `${LINK_BASE}#reset=`)
    }
    const [, first, second] = sink.to(email)
    t.equal((await c.me()).statusCode, 200, 'asking for a reset ends no session')
    const stale = await app.inject({ method: 'POST', url: '/auth/password/reset', payload: { reset_token: linkToken(first, 'reset'), new_password: 'a brand new passphrase' } })
    t.equal(stale.json().code, 'INVALID_RESET_TOKEN', 'a newer link replaces an older one')
    const token = linkToken(second, 'reset')
    t.equal((await app.inject({ method: 'POST', url: '/auth/password/reset', payload: { reset_token: token, new_password: 'a brand new passphrase' } })).statusCode, 204, 'the admin path\'s endpoint spends it')
    t.equal((await c.me()).json().code, 'TOKEN_REVOKED', 'and then every session ends')
    t.equal((await new Client(app, 'header').login(name, 'a brand new passphrase')).statusCode, 200)
    t.equal((await new Client(app, 'header').login(name, GOOD_PASSWORD)).statusCode, 401)
    const again = await app.inject({ method: 'POST', url: '/auth/password/reset', payload: { reset_token: token, new_password: 'yet another passphrase' } })
    t.equal(again.json().code, 'INVALID_RESET_TOKEN', 'once')
  })

  t.test(`${backend}: unknown and unverified addresses and usernames get the same answer and no mail`, async (t) => {
    const { app, sink } = await emailApp(t, backend)
    const unverified = newAddress('unverified')
    const reg = await new Client(app, 'header').request('POST', '/auth/register', { body: { username: 'not_verified_yet', password: GOOD_PASSWORD, email: unverified }, bearer: false })
    t.equal(reg.statusCode, 201)
    await mailsTo(sink, unverified)
    for (const body of [{ email: newAddress('nobody') }, { email: unverified }, { username: 'no_such_user' }, { username: 'not_verified_yet' }]) {
      const res = await app.inject({ method: 'POST', url: '/auth/password/forgot', payload: body })
      t.same([res.statusCode, res.json(), res.headers['content-length']], [202, ACCEPTED, String(JSON.stringify(ACCEPTED).length)], JSON.stringify(body))
    }
    const code = await app.inject({ method: 'POST', url: '/auth/email/login-code', payload: { email: newAddress('nobody') } })
    t.same([code.statusCode, code.json()], [202, ACCEPTED])
    await settle()
    t.equal(sink.messages.length, 1, 'the only mail is the verification link')
    t.equal(await app.prisma.passwordReset.count(), 0, 'no reset token was made')
    for (const body of [{}, { other: 'x' }, { email: 'x@y.example', username: 'both' }, { email: 'a@b.example\r\nBcc: c@d.example' }]) {
      const res = await app.inject({ method: 'POST', url: '/auth/password/forgot', payload: body })
      t.same([res.statusCode, res.json().code], [400, 'VALIDATION'], JSON.stringify(body))
    }
  })

  t.test(`${backend}: a sign-in code signs in as a login does, once, amr ["email"]`, async (t) => {
    const { app, sink } = await emailApp(t, backend)
    const { name, email } = await verifiedUser(app, sink)
    for (const mode of ['header', 'cookie'] as const) {
      const asked = await app.inject({ method: 'POST', url: '/auth/email/login-code', payload: { email } })
      t.same([asked.statusCode, asked.json()], [202, ACCEPTED])
      const mail = (await mailsTo(sink, email, mode === 'header' ? 2 : 3)).at(-1)!
      t.equal(mail.subject, 'Your sign-in code')
      const code = mailedCode(mail)
      const res = await app.inject({ method: 'POST', url: '/auth/login/email', headers: { 'x-auth-mode': mode }, payload: { email, code } })
      t.equal(res.statusCode, 200, mode)
      const body = res.json()
      t.equal(body.user.username, name)
      t.equal(body.token_type, 'Bearer')
      t.same(claims(body.access_token).amr, ['email'])
      if (mode === 'header') t.type(body.refresh_token, 'string')
      else {
        t.notOk(body.refresh_token)
        t.ok(parseSetCookies(res).some((ck) => ck.name === 'refresh_token' && ck.attrs.httponly === true), 'the refresh cookie')
      }
      const spent = await app.inject({ method: 'POST', url: '/auth/login/email', headers: { 'x-auth-mode': mode }, payload: { email, code } })
      t.same([spent.statusCode, spent.json().code], [401, 'INVALID_CREDENTIALS'], 'a spent code')
    }
  })

  t.test(`${backend}: wrong, expired and unknown: one 401; five wrong codes for an address, then 429`, async (t) => {
    const { app, sink } = await emailApp(t, backend)
    const { email } = await verifiedUser(app, sink)
    await app.inject({ method: 'POST', url: '/auth/email/login-code', payload: { email } })
    const code = mailedCode((await mailsTo(sink, email, 2))[1])
    await app.prisma.emailToken.updateMany({ where: { kind: 'login' }, data: { expiresAt: new Date(Date.now() - 1) } })
    const expired = await app.inject({ method: 'POST', url: '/auth/login/email', payload: { email, code } })
    const unknown = await app.inject({ method: 'POST', url: '/auth/login/email', payload: { email: newAddress('ghost'), code: '123456' } })
    t.same([expired.statusCode, expired.json()], [unknown.statusCode, unknown.json()], 'the same answer')
    t.equal(unknown.json().code, 'INVALID_CREDENTIALS')

    await app.inject({ method: 'POST', url: '/auth/email/login-code', payload: { email } })
    const live = mailedCode((await mailsTo(sink, email, 3))[2])
    const wrong = live === '000000' ? '000001' : '000000'
    // The expired try above counted: four more wrong ones make five.
    for (let i = 0; i < 4; i++) {
      const res = await app.inject({ method: 'POST', url: '/auth/login/email', payload: { email, code: wrong } })
      t.equal(res.json().code, 'INVALID_CREDENTIALS', `wrong code ${i + 2}`)
    }
    const limited = await app.inject({ method: 'POST', url: '/auth/login/email', payload: { email, code: live } })
    t.same([limited.statusCode, limited.json().code], [429, 'TOO_MANY_REQUESTS'], 'even the right code, after 5 wrong ones')
    t.ok(limited.headers['retry-after'])
    const ghost = newAddress('ghost')
    for (let i = 0; i < 5; i++) await app.inject({ method: 'POST', url: '/auth/login/email', payload: { email: ghost, code: '123456' } })
    t.equal((await app.inject({ method: 'POST', url: '/auth/login/email', payload: { email: ghost, code: '123456' } })).statusCode, 429, 'an unknown address is limited alike')
  })

  t.test(`${backend}: a user with TOTP gets the second step after the code`, async (t) => {
    const { app, sink } = await emailApp(t, backend)
    const { c, email } = await verifiedUser(app, sink)
    const secret = (await c.request('POST', '/auth/mfa/totp')).json().secret
    const totp = new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(secret), digits: 6, period: 30, algorithm: 'SHA1' })
    t.equal((await c.request('POST', '/auth/mfa/totp/confirm', { body: { code: totp.generate() } })).statusCode, 200)
    await app.inject({ method: 'POST', url: '/auth/email/login-code', payload: { email } })
    const code = mailedCode((await mailsTo(sink, email, 2))[1])
    const first = await app.inject({ method: 'POST', url: '/auth/login/email', headers: { 'x-auth-mode': 'header' }, payload: { email, code } })
    t.equal(first.statusCode, 200)
    t.same(Object.keys(first.json()).sort(), ['expires_in', 'methods', 'mfa_required', 'mfa_token'])
    const second = await app.inject({ method: 'POST', url: '/auth/login/mfa', headers: { 'x-auth-mode': 'header' }, payload: { mfa_token: first.json().mfa_token, code: totp.generate({ timestamp: Date.now() + 30_000 }) } })
    t.equal(second.statusCode, 200)
    t.same(claims(second.json().access_token).amr, ['email', 'otp'])
  })

  t.test(`${backend}: five mails an hour to one address, then silence (the answer does not change)`, async (t) => {
    const { app, sink } = await emailApp(t, backend)
    const { email } = await verifiedUser(app, sink)
    for (let i = 0; i < 6; i++) {
      const res = await app.inject({ method: 'POST', url: '/auth/password/forgot', payload: { email } })
      t.same([res.statusCode, res.json()], [202, ACCEPTED])
    }
    await mailsTo(sink, email, 5)
    await settle()
    t.equal(sink.to(email).length, 5, 'the verification mail and four reset links: five in the hour')
    t.equal(await app.prisma.mailOutbox.count({ where: { recipient: email.toLowerCase() } }), 5)
    const lastLink = linkToken(sink.to(email)[4], 'reset')
    t.equal((await app.inject({ method: 'POST', url: '/auth/password/reset', payload: { reset_token: lastLink, new_password: 'a brand new passphrase' } })).statusCode, 204, 'the last mailed link still works: the dropped request changed nothing')
  })
}

t.test('per client address: 10 mail-sending requests a minute', async (t) => {
  const { app } = await emailApp(t, 'embedded', { env: { RATE_LIMIT: 'on' } })
  const codes = []
  for (let i = 0; i < 11; i++) codes.push((await app.inject({ method: 'POST', url: '/auth/password/forgot', payload: { email: newAddress('x') } })).statusCode)
  t.same(codes, [...Array(10).fill(202), 429])
})
