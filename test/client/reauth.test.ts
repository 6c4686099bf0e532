// The client library and step-up (docs/api.md "Changing how an account signs
// in"), against the real service over HTTP: REAUTH_REQUIRED and MFA_REQUIRED
// are never a sign-out; with onReauthRequired the app is asked once and the
// call is sent again once.
import t from 'tap'
import * as OTPAuth from 'otpauth'
import { AuthError, isStepUpError, memoryStorage, memoryKeyStore, type ReauthCredentials, type ReauthReason } from '../../client/index.ts'
import { service } from '../helpers/client-service.ts'
import { GOOD_PASSWORD, uniqueName } from '../helpers/client.ts'

/**
 * A user whose session signed in an hour ago, picked up by a relaunched app
 * (its first call refreshes, so its access token carries the old auth_time).
 */
async function staleSession (s: Awaited<ReturnType<typeof service>>, opts: Parameters<typeof s.client>[0] = {}) {
  const storage = memoryStorage()
  const first = s.client({ storage, ...opts })
  const name = uniqueName('Step')
  await first.register(name, GOOD_PASSWORD)
  await first.login(name, GOOD_PASSWORD)
  const refreshToken = await storage.get()
  first.close()
  const session = await s.app.prisma.session.findFirstOrThrow({ where: { user: { usernameKey: name.toLowerCase() } } })
  await s.app.prisma.session.update({ where: { id: session.id }, data: { authTime: new Date(Date.now() - 3600_000) } })
  await storage.set(refreshToken!)
  const asked: ReauthReason[] = []
  const signedOut: string[] = []
  return { name, storage, asked, signedOut, sid: session.id }
}

t.test('REAUTH_REQUIRED: the app is asked once, the client reauthenticates, the call goes through', async (t) => {
  const s = await service(t, { REAUTH_MAX_AGE: '10' })
  const { storage, asked, signedOut, sid } = await staleSession(s)
  const c = s.client({ storage, onReauthRequired: ({ code }) => { asked.push(code); return { password: GOOD_PASSWORD } } })
  c.on('signedOut', (e) => signedOut.push(e.reason))
  const { secret } = await c.enrollTotp()
  t.match(secret, /^[A-Z2-7]{32}$/, 'the call answered')
  t.same(asked, ['REAUTH_REQUIRED'], 'asked once, saying why')
  t.equal(s.count('POST /auth/mfa/totp'), 2, 'sent twice: refused, then after the proof')
  t.equal(s.count('POST /auth/reauthenticate'), 1)
  t.equal(c.signedIn, true)
  t.same(signedOut, [], 'never a sign-out')
  const current = (await c.sessions()).find((x) => x.current)!
  t.equal(current.id, sid, 'the same session')
  t.ok(Date.now() - new Date(current.authTime).getTime() < 5000, 'signed in just now, as the service records it')
  await c.enrollTotp()
  t.same(asked, ['REAUTH_REQUIRED'], 'a fresh session is not asked again')
})

t.test('calls refused at once share one question', async (t) => {
  const s = await service(t, { REAUTH_MAX_AGE: '10' })
  const { storage, asked } = await staleSession(s)
  const c = s.client({ storage, onReauthRequired: async ({ code }) => { asked.push(code); await new Promise((resolve) => setTimeout(resolve, 50)); return { password: GOOD_PASSWORD } } })
  await c.me() // the refresh, first
  const answers = await Promise.all([c.enrollTotp(), c.enrollTotp(), c.enrollTotp()])
  t.equal(answers.length, 3)
  t.same(asked, ['REAUTH_REQUIRED'], 'one question for three calls')
  t.equal(s.count('POST /auth/reauthenticate'), 1)
})

t.test('without a callback, or declined: the call rejects with REAUTH_REQUIRED, still signed in; reauthenticate() then the call works', async (t) => {
  const s = await service(t, { REAUTH_MAX_AGE: '10' })
  const { storage, signedOut } = await staleSession(s)
  const c = s.client({ storage })
  c.on('signedOut', (e) => signedOut.push(e.reason))
  const err = await c.enrollTotp().catch((e) => e)
  t.ok(err instanceof AuthError && err.code === 'REAUTH_REQUIRED' && err.status === 401, 'REAUTH_REQUIRED')
  t.ok(isStepUpError(err), 'isStepUpError tells it apart from a sign-out')
  t.equal(c.signedIn, true)
  t.same(signedOut, [])
  const wrong = await c.reauthenticate({ password: 'not my password at all' }).catch((e) => e)
  t.equal(wrong.code, 'INVALID_CREDENTIALS', 'a wrong password rejects')
  t.equal(c.signedIn, true, 'and signs nothing out')
  const user = await c.reauthenticate({ password: GOOD_PASSWORD })
  t.equal(user.username, (await c.me()).username)
  t.match((await c.enrollTotp()).secret, /^[A-Z2-7]{32}$/)

  const declined = s.client({ storage, onReauthRequired: () => null })
  await s.app.prisma.session.updateMany({ data: { authTime: new Date(Date.now() - 3600_000) } })
  await declined.me()
  t.equal(await declined.enrollTotp().catch((e) => e.code), 'REAUTH_REQUIRED', 'declined: the service\'s error')
  t.equal(s.count('POST /auth/reauthenticate'), 2, 'and no reauthentication was sent')
  t.same(signedOut, [])
})

t.test('MFA_REQUIRED: the app is told the second factor is needed; password and code lift it', async (t) => {
  const s = await service(t, {})
  const asked: ReauthReason[] = []
  let answer: ReauthCredentials = { password: GOOD_PASSWORD }
  const c = s.client({ onReauthRequired: ({ code }) => { asked.push(code); return answer } })
  const name = uniqueName('Mfa')
  await c.register(name, GOOD_PASSWORD)
  await c.login(name, GOOD_PASSWORD)
  const { secret } = await c.enrollTotp()
  const totp = new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(secret), digits: 6, period: 30, algorithm: 'SHA1' })
  const recovery = await c.confirmTotp(totp.generate())
  t.same(asked, [], 'a fresh session without a factor was asked nothing')

  // The password alone does not lift MFA_REQUIRED: the retry is refused again and rejects.
  t.equal(await c.disableTotp(recovery[1]).catch((e) => e.code), 'MFA_REQUIRED')
  t.same(asked, ['MFA_REQUIRED'])
  answer = { password: GOOD_PASSWORD, code: ` ${recovery[0]} ` }
  await c.disableTotp(recovery[1])
  t.same(asked, ['MFA_REQUIRED', 'MFA_REQUIRED'])
  t.equal((await c.mfaStatus()).totp, false, 'TOTP is off')
  t.equal(c.signedIn, true)
})

t.test('a DPoP-bound session reauthenticates with a proof and stays bound', async (t) => {
  const s = await service(t, {})
  const c = s.client({ dpop: memoryKeyStore(), onReauthRequired: () => ({ password: GOOD_PASSWORD }) })
  const name = uniqueName('Bound')
  await c.register(name, GOOD_PASSWORD)
  await c.login(name, GOOD_PASSWORD)
  const before = (await c.sessions()).find((x) => x.current)!
  t.equal(before.dpopBound, true)
  await s.app.prisma.session.update({ where: { id: before.id }, data: { authTime: new Date(Date.now() - 3600_000) } })
  await c.reauthenticate({ password: GOOD_PASSWORD })
  const after = (await c.sessions()).find((x) => x.current)!
  t.equal(after.id, before.id)
  t.ok(Date.now() - new Date(after.authTime).getTime() < 5000)
  t.equal((await c.me()).username, name, 'the new token works with the key')
  t.equal(s.count('POST /auth/reauthenticate'), 1, 'one reauthentication, accepted with its proof')
})
