// A user's address: given at registration, verified by the mailed link,
// changed (the old address told), and never taken from another account.
import t from 'tap'
import * as OTPAuth from 'otpauth'
import { backends } from '../helpers/app.ts'
import { Client, GOOD_PASSWORD, uniqueName } from '../helpers/client.ts'
import { linkToken } from '../helpers/smtp.ts'
import { LINK_BASE, emailApp, mailsTo, newAddress, settle, verifiedUser } from './setup.ts'

for (const backend of backends) {
  t.test(`${backend}: register with an address, open the link, and /auth/me shows it verified`, async (t) => {
    const { app, sink } = await emailApp(t, backend)
    const c = new Client(app, 'header')
    const name = uniqueName('ann')
    const email = newAddress('Ann')
    const reg = await c.request('POST', '/auth/register', { body: { username: name, password: GOOD_PASSWORD, email }, bearer: false })
    t.equal(reg.statusCode, 201)
    t.same(Object.keys(reg.json()).sort(), ['id', 'roles', 'username'], 'the answer is as before')
    await c.login(name, GOOD_PASSWORD)
    t.same((await c.me()).json(), { id: reg.json().id, username: name, roles: ['user'], email, emailVerified: false }, 'set, not verified yet')
    const [mail] = await mailsTo(sink, email)
    t.equal(mail.subject, 'Confirm your email address')
    t.ok(mail.html, 'an HTML part')
    t.match(mail.text, `${LINK_BASE}#verify=`, 'the link points at EMAIL_LINK_BASE')
    t.match(String(mail.html), `href="${LINK_BASE}#verify=`)
    const token = linkToken(mail, 'verify')
    t.equal((await app.inject({ method: 'POST', url: '/auth/email/verify', payload: { token } })).statusCode, 204)
    // /auth/me reads the access token's claims (no database): a refresh brings the change.
    t.equal((await c.me()).json().emailVerified, false, 'as of the access token')
    t.equal((await c.refresh()).statusCode, 200)
    t.same((await c.me()).json(), { id: reg.json().id, username: name, roles: ['user'], email, emailVerified: true })
    const again = await app.inject({ method: 'POST', url: '/auth/email/verify', payload: { token } })
    t.equal(again.statusCode, 400)
    t.equal(again.json().code, 'INVALID_EMAIL_TOKEN', 'a spent link')
    const row = await app.prisma.emailToken.findFirst({ where: { email } })
    t.not(row?.tokenHash, token, 'only a hash is stored')
    const outbox = await app.prisma.mailOutbox.findFirst({ where: { recipient: email.toLowerCase() } })
    t.equal(outbox?.sealed, null, 'the sent mail\'s body is gone from the outbox')
    t.ok(outbox?.sentAt)
  })

  t.test(`${backend}: verification links that are unknown, malformed or expired get one code`, async (t) => {
    const { app, sink } = await emailApp(t, backend)
    for (const token of ['A'.repeat(43), 'not a token', 'x']) {
      const res = await app.inject({ method: 'POST', url: '/auth/email/verify', payload: { token } })
      t.same([res.statusCode, res.json().code], [400, 'INVALID_EMAIL_TOKEN'], token)
    }
    const c = new Client(app, 'header')
    const email = newAddress('late')
    await c.request('POST', '/auth/register', { body: { username: uniqueName('late'), password: GOOD_PASSWORD, email }, bearer: false })
    const [mail] = await mailsTo(sink, email)
    await app.prisma.emailToken.updateMany({ where: { email }, data: { expiresAt: new Date(Date.now() - 1000) } })
    const res = await app.inject({ method: 'POST', url: '/auth/email/verify', payload: { token: linkToken(mail, 'verify') } })
    t.same([res.statusCode, res.json().code], [400, 'INVALID_EMAIL_TOKEN'], 'expired')
  })

  t.test(`${backend}: an address another account verified is not set, its owner is told, and the answer is the same`, async (t) => {
    const { app, sink } = await emailApp(t, backend)
    const owner = await verifiedUser(app, sink)
    const c = new Client(app, 'header')
    const name = uniqueName('mallory')
    const reg = await c.request('POST', '/auth/register', { body: { username: name, password: GOOD_PASSWORD, email: owner.email.toUpperCase() }, bearer: false })
    t.equal(reg.statusCode, 201)
    t.same(Object.keys(reg.json()).sort(), ['id', 'roles', 'username'])
    const mails = await mailsTo(sink, owner.email, 2)
    t.equal(mails[1].subject, 'Someone tried to use your email address', 'the owner hears of it')
    t.notMatch(mails[1].text, /#verify=/, 'with no link')
    await c.login(name, GOOD_PASSWORD)
    t.same((await c.me()).json().email, null, 'not set on the new account')
  })

  t.test(`${backend}: change of address: the new one verifies, then replaces the old, which is told`, async (t) => {
    const { app, sink } = await emailApp(t, backend)
    const { c, email: old } = await verifiedUser(app, sink)
    const next = newAddress('next')
    const put = await c.request('PUT', '/auth/email', { body: { email: next } })
    t.equal(put.statusCode, 202)
    t.same(put.json(), { message: 'Accepted: if the address can receive mail, a message is on its way' })
    t.equal((await c.me()).json().email, old, 'the old address stays until the new one is verified')
    const [mail] = await mailsTo(sink, next)
    t.equal((await app.inject({ method: 'POST', url: '/auth/email/verify', payload: { token: linkToken(mail, 'verify') } })).statusCode, 204)
    t.equal((await c.refresh()).statusCode, 200)
    t.same((await c.me()).json().email, next)
    t.equal((await c.me()).json().emailVerified, true)
    const told = await mailsTo(sink, old, 2)
    t.equal(told[1].subject, 'Your email address was changed')
    t.match(told[1].text, next)
    // The old address signs in to nothing now.
    t.equal((await app.inject({ method: 'POST', url: '/auth/password/forgot', payload: { email: old } })).statusCode, 202)
    await settle()
    t.equal(sink.to(old).length, 2, 'no reset mail to the old address')
  })

  t.test(`${backend}: two accounts wait on one address: the second link gets 409 EMAIL_TAKEN`, async (t) => {
    const { app, sink } = await emailApp(t, backend)
    const shared = newAddress('shared')
    for (const who of ['first', 'second']) {
      await new Client(app, 'header').request('POST', '/auth/register', { body: { username: uniqueName(who), password: GOOD_PASSWORD, email: shared }, bearer: false })
    }
    const [a, b] = await mailsTo(sink, shared, 2)
    t.equal((await app.inject({ method: 'POST', url: '/auth/email/verify', payload: { token: linkToken(a, 'verify') } })).statusCode, 204)
    const res = await app.inject({ method: 'POST', url: '/auth/email/verify', payload: { token: linkToken(b, 'verify') } })
    t.same([res.statusCode, res.json().code], [409, 'EMAIL_TAKEN'])
  })

  t.test(`${backend}: a change of address needs step-up and a plain address`, async (t) => {
    const { app, sink } = await emailApp(t, backend)
    const { c } = await verifiedUser(app, sink)
    for (const email of ['a@b.example\r\nBcc: x@evil.example', 'Eve <eve@evil.example>', 'a@b.example, x@evil.example', 'a@b.example\nx', 'no-at-sign', '"quoted"@x.example', `${'a'.repeat(250)}@x.example`]) {
      const res = await c.request('PUT', '/auth/email', { body: { email } })
      t.same([res.statusCode, res.json().code], [400, 'VALIDATION'], JSON.stringify(email))
    }
    const inject = await c.request('POST', '/auth/register', { body: { username: uniqueName('inj'), password: GOOD_PASSWORD, email: 'v@x.example\r\nSubject: hi' }, bearer: false })
    t.same([inject.statusCode, inject.json().code], [400, 'VALIDATION'], 'at registration too')
    t.equal(await app.prisma.mailOutbox.count({ where: { recipient: { contains: 'evil' } } }), 0, 'nothing was written for them')
    // A user with TOTP whose session did not use it: MFA_REQUIRED, and no mail.
    const secret = (await c.request('POST', '/auth/mfa/totp')).json().secret
    const totp = new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(secret), digits: 6, period: 30, algorithm: 'SHA1' })
    t.equal((await c.request('POST', '/auth/mfa/totp/confirm', { body: { code: totp.generate() } })).statusCode, 200)
    const before = await app.prisma.mailOutbox.count()
    const refused = await c.request('PUT', '/auth/email', { body: { email: newAddress('stepup') } })
    t.same([refused.statusCode, refused.json().code], [401, 'MFA_REQUIRED'])
    t.equal(await app.prisma.mailOutbox.count(), before, 'no mail')
  })
}
