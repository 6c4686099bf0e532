// Tokens a provider's party hands the service directly, against a real
// OpenID Provider: a native app's ID token (POST /auth/oidc/:name/id-token)
// and the provider's back-channel logout, which must end the sessions it
// names on every instance at once, and refuse every malformed or replayed
// logout token.
import t from 'tap'
import { randomUUID } from 'node:crypto'
import { backends, buildApp } from '../helpers/app.ts'
import { eventually } from '../helpers/servers.ts'
import { KEYS_COOLDOWN_MS } from '../../src/oidc/providers.ts'
import { Client } from '../helpers/client.ts'
import { PersonBrowser, oidcApp, signInThrough } from '../helpers/oidc.ts'
import type { Idp } from '../helpers/oidc-provider.ts'

const EVENT = 'http://schemas.openid.net/event/backchannel-logout'
const now = () => Math.floor(Date.now() / 1000)

function idTokenClaims (idp: Idp, sub: string, extra: Record<string, unknown> = {}) {
  return { iss: idp.issuer, aud: 'auth-service', sub, iat: now(), exp: now() + 300, email: `${sub}@corp.test`, ...extra }
}

for (const backend of backends) {
  t.test(`${backend}: a native app's ID token`, async (t) => {
    const { app, idp } = await oidcApp(t, backend)
    const post = (body: object, name = 'corp') => app.inject({ method: 'POST', url: `/auth/oidc/${name}/id-token`, payload: body })

    const good = await idp.sign(idTokenClaims(idp, 'native-1', { nonce: 'n-1', preferred_username: 'native' }))
    const ok = await post({ id_token: good, nonce: 'n-1' })
    t.equal(ok.statusCode, 200)
    t.match(ok.json(), { token_type: 'Bearer', user: { username: 'native' } })
    t.type(ok.json().refresh_token, 'string', 'a header-mode answer')
    t.equal((await post({ id_token: good, nonce: 'n-1' })).json().code, 'OIDC_ID_TOKEN_INVALID', 'an ID token signs in once')

    // The provider rotates its key: a token under the new kid makes the service fetch the keys
    // again (at most every KEYS_COOLDOWN_MS, whoever sends an unknown kid: retried until then).
    await idp.rotateKey({ keepOld: false })
    let rotated: Awaited<ReturnType<typeof post>> | undefined
    t.ok(await eventually(async () => {
      rotated = await post({ id_token: await idp.sign(idTokenClaims(idp, 'native-1', { jti: randomUUID() })) })
      return rotated.statusCode === 200
    }, KEYS_COOLDOWN_MS * 3, 500), 'an unknown kid fetches the provider\'s keys again')
    t.equal(rotated!.json().user.id, ok.json().user.id, 'the same identity, the same user')

    const refused: Array<[string, Promise<string>, string?]> = [
      ['another audience', idp.sign(idTokenClaims(idp, 'native-2', { aud: 'another-app' }))],
      ['expired', idp.sign(idTokenClaims(idp, 'native-2', { iat: now() - 7200, exp: now() - 3600 }))],
      ['another issuer', idp.sign(idTokenClaims(idp, 'native-2', { iss: 'https://evil.example' }))],
      ['re-signed with another key', idp.signWithForeignKey(idTokenClaims(idp, 'native-2'))],
      ['an unknown kid', idp.signWithForeignKey(idTokenClaims(idp, 'native-2'), { kid: 'made-up' })],
      ['alg none', Promise.resolve(`${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify(idTokenClaims(idp, 'native-2'))).toString('base64url')}.`)],
      ['a wrong nonce', idp.sign(idTokenClaims(idp, 'native-2', { nonce: 'n-2' })), 'n-other'],
      ['no nonce when one is expected', idp.sign(idTokenClaims(idp, 'native-2')), 'n-3'],
      ['several audiences, azp another', idp.sign(idTokenClaims(idp, 'native-2', { aud: ['auth-service', 'another-app'], azp: 'another-app' }))],
      ['a logout token', idp.sign({ ...idTokenClaims(idp, 'native-2'), jti: randomUUID(), events: { [EVENT]: {} } }, { typ: 'logout+jwt' })],
      ['not a JWT', Promise.resolve('not-a-jwt')]
    ]
    for (const [why, token, nonce] of refused) {
      const res = await post({ id_token: await token, ...(nonce !== undefined ? { nonce } : {}) })
      t.equal(res.statusCode, 401, why)
      t.equal(res.json().code, 'OIDC_ID_TOKEN_INVALID', why)
    }
    t.equal(await app.prisma.identity.count({ where: { subject: 'native-2' } }), 0, 'no refused token linked or made anything')
    t.equal((await post({ id_token: good }, 'nope')).statusCode, 404)
  })

  t.test(`${backend}: back-channel logout refuses what section 2.6 refuses`, async (t) => {
    const { app, idp } = await oidcApp(t, backend)
    idp.accounts.set('bc-1', { sub: 'bc-1' })
    const { fragment } = await signInThrough(app, idp, 'bc-1', { mode: 'header' })
    const session = await app.inject({ method: 'POST', url: '/auth/oidc/exchange', payload: { login_code: fragment.get('login_code') } })
    const c = new Client(app, 'header')
    c.accessToken = session.json().access_token
    const post = (token: string) => app.inject({ method: 'POST', url: '/auth/oidc/corp/backchannel-logout', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: new URLSearchParams({ logout_token: token }).toString() })
    const logout = (extra: Record<string, unknown> = {}) => ({ iss: idp.issuer, aud: 'auth-service', sub: 'bc-1', iat: now(), jti: randomUUID(), events: { [EVENT]: {} }, ...extra })

    const bad: Array<[string, Promise<string>]> = [
      ['a foreign signature', idp.signWithForeignKey(logout())],
      ['another issuer', idp.sign(logout({ iss: 'https://evil.example' }))],
      ['another audience', idp.sign(logout({ aud: 'another-app' }))],
      ['no iat', idp.sign(logout({ iat: undefined }))],
      ['an old iat', idp.sign(logout({ iat: now() - 3600 }))],
      ['no jti', idp.sign(logout({ jti: undefined }))],
      ['no events', idp.sign(logout({ events: undefined }))],
      ['another event', idp.sign(logout({ events: { 'http://example.com/other': {} } }))],
      ['neither sub nor sid', idp.sign(logout({ sub: undefined }))],
      ['a nonce', idp.sign(logout({ nonce: 'n' }))],
      ['an ID token typ', idp.sign(logout(), { typ: 'at+jwt' })],
      ['not a JWT', Promise.resolve('garbage')]
    ]
    for (const [why, token] of bad) {
      const res = await post(await token)
      t.equal(res.statusCode, 400, why)
      t.equal(res.json().code, 'OIDC_LOGOUT_TOKEN_INVALID', why)
    }
    t.equal((await c.me()).statusCode, 200, 'no refused token ended anything')
    t.equal((await app.inject({ method: 'POST', url: '/auth/oidc/corp/backchannel-logout', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: '' })).statusCode, 400, 'no logout_token')

    const good = await idp.sign(logout(), { typ: 'logout+jwt' })
    t.equal((await post(good)).statusCode, 200)
    t.equal((await c.me()).json().code, 'TOKEN_REVOKED', 'sub alone: every session the identity opened ends')
    const replay = await post(good)
    t.equal(replay.statusCode, 400)
    t.equal(replay.json().code, 'OIDC_LOGOUT_TOKEN_INVALID', 'a replayed jti')
    t.equal((await post(await idp.sign(logout({ sub: 'never-seen' })))).statusCode, 200, 'an identity we never linked: nothing to end, still 200')
  })
}

t.test('real: the provider signs a user out, and every instance refuses that session at once', async (t) => {
  // The service listens on PUBLIC_URL: the provider POSTs its logout tokens there.
  const a = await oidcApp(t, 'real', { listen: true })
  const b = await buildApp(t, { backend: 'real', databaseUrl: a.databaseUrl, redis: a.redis, env: a.env })
  a.idp.accounts.set('bc-2', { sub: 'bc-2', preferred_username: 'twice' })

  // Two provider sessions of the same user (two browsers); each opens a session here.
  const laptop = new PersonBrowser()
  const phone = new PersonBrowser()
  const sessions = []
  for (const browser of [laptop, phone]) {
    const { fragment } = await signInThrough(a.app, a.idp, 'bc-2', { mode: 'header', browser })
    const res = await b.app.inject({ method: 'POST', url: '/auth/oidc/exchange', payload: { login_code: fragment.get('login_code') } })
    t.equal(res.statusCode, 200)
    const c = new Client(b.app, 'header')
    c.accessToken = res.json().access_token
    c.refreshToken = res.json().refresh_token
    sessions.push(c)
  }
  const [onLaptop, onPhone] = sessions
  t.equal((await onLaptop.me()).statusCode, 200)

  // The user signs out at the provider in the laptop's browser: its logout token names that provider session (sid).
  const sent = await a.idp.endSession(laptop.at(a.idp))
  t.match(sent, [{ clientId: 'auth-service', sub: 'bc-2' }])
  t.notOk(sent[0].error, 'the service answered the provider 200')
  t.equal((await onLaptop.me()).json().code, 'TOKEN_REVOKED', 'refused at once on the other instance')
  t.equal((await onLaptop.request('GET', '/auth/me', { app: a.app })).json().code, 'TOKEN_REVOKED', 'and on the instance the provider called')
  t.equal((await onLaptop.refresh()).statusCode, 401, 'its refresh token is dead too')
  t.equal((await onPhone.me()).statusCode, 200, 'the other provider session\'s session stays')
})
