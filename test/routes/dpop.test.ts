// Sender-constrained sessions (docs/api.md "Sender-constrained tokens (DPoP)"):
// a session opened with a proof is bound to its key for life, and whoever
// holds its tokens without the key holds nothing; on both backends.
import t from 'tap'
import * as OTPAuth from 'otpauth'
import type { FastifyInstance } from 'fastify'
import { buildApp, backends } from '../helpers/app.ts'
import { GOOD_PASSWORD, uniqueName, parseSetCookies } from '../helpers/client.ts'
import { dpopKey, hmacProof, htuOf, unsignedProof, type DpopKey } from '../helpers/dpop.ts'

const PROOF_INVALID = 'DPoP error="invalid_dpop_proof", algs="ES256 EdDSA"'

async function register (app: FastifyInstance, prefix = 'dpop') {
  const name = uniqueName(prefix)
  const res = await app.inject({ method: 'POST', url: '/auth/register', payload: { username: name, password: GOOD_PASSWORD } })
  if (res.statusCode !== 201) throw new Error(`register: ${res.body}`)
  return name
}

/** A header-mode login with a proof by `key`. */
async function boundLogin (app: FastifyInstance, key: DpopKey, name: string) {
  return await app.inject({
    method: 'POST',
    url: '/auth/login',
    headers: { 'x-auth-mode': 'header', dpop: await key.proof('POST', '/auth/login') },
    payload: { username: name, password: GOOD_PASSWORD }
  })
}

async function refreshWith (app: FastifyInstance, refreshToken: string, proof?: string) {
  return await app.inject({ method: 'POST', url: '/auth/refresh', headers: { 'x-auth-mode': 'header', ...(proof !== undefined ? { dpop: proof } : {}) }, payload: { refresh_token: refreshToken } })
}

async function meWith (app: FastifyInstance, accessToken: string, key?: DpopKey, scheme = 'DPoP') {
  const headers: Record<string, string> = { authorization: `${scheme} ${accessToken}` }
  if (key !== undefined) headers.dpop = await key.proof('GET', '/auth/me', { accessToken })
  return await app.inject({ url: '/auth/me', headers })
}

const claimsOf = (token: string) => JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString())

for (const backend of backends) {
  t.test(`${backend} backend`, async (t) => {
    const { app } = await buildApp(t, { backend })

    t.test('a login with a proof binds the session: token_type DPoP, cnf.jkt, DPoP scheme with a proof', async (t) => {
      const key = await dpopKey()
      const login = await boundLogin(app, key, await register(app))
      t.equal(login.statusCode, 200)
      const body = login.json()
      t.equal(body.token_type, 'DPoP')
      t.same(claimsOf(body.access_token).cnf, { jkt: key.jkt })
      t.equal((await meWith(app, body.access_token, key)).statusCode, 200, 'DPoP scheme with a proof by the key')
      const asBearer = await meWith(app, body.access_token, undefined, 'Bearer')
      t.equal(asBearer.statusCode, 401, 'the bound token as a Bearer token is refused')
      t.equal(asBearer.json().code, 'TOKEN_INVALID')
      const noProof = await meWith(app, body.access_token)
      t.equal(noProof.json().code, 'DPOP_PROOF_INVALID', 'the DPoP scheme without a proof')
      t.equal(noProof.headers['www-authenticate'], PROOF_INVALID)

      const refreshed = await refreshWith(app, body.refresh_token, await key.proof('POST', '/auth/refresh'))
      t.equal(refreshed.statusCode, 200, 'a refresh with a proof by the key')
      t.equal(refreshed.json().token_type, 'DPoP')
      t.same(claimsOf(refreshed.json().access_token).cnf, { jkt: key.jkt }, 'the binding is carried by every refresh')
      t.equal((await meWith(app, refreshed.json().access_token, key)).statusCode, 200)
      const token = refreshed.json().access_token
      const list = await app.inject({ url: '/auth/sessions', headers: { authorization: `DPoP ${token}`, dpop: await key.proof('GET', '/auth/sessions', { accessToken: token }) } })
      t.same(list.json().map((s: { dpopBound: boolean }) => s.dpopBound), [true], 'the session list says the session is bound')
    })

    t.test('EdDSA keys bind as ES256 ones do', async (t) => {
      const key = await dpopKey('EdDSA')
      const login = await boundLogin(app, key, await register(app))
      t.equal(login.statusCode, 200)
      t.equal((await meWith(app, login.json().access_token, key)).statusCode, 200)
    })

    t.test('a thief holding the refresh and access tokens but not the key gets nothing, and changes nothing', async (t) => {
      const victimKey = await dpopKey()
      const thiefKey = await dpopKey()
      const login = (await boundLogin(app, victimKey, await register(app))).json()

      for (const proof of [undefined, await thiefKey.proof('POST', '/auth/refresh')]) {
        const res = await refreshWith(app, login.refresh_token, proof)
        t.equal(res.statusCode, 401)
        t.equal(res.json().code, 'DPOP_PROOF_INVALID')
        t.equal(res.headers['www-authenticate'], PROOF_INVALID)
      }
      t.equal((await meWith(app, login.access_token, thiefKey)).json().code, 'DPOP_PROOF_INVALID', "a proof by the thief's key on /auth/me")
      t.equal((await meWith(app, login.access_token, undefined, 'Bearer')).json().code, 'TOKEN_INVALID')
      const logout = await app.inject({ method: 'POST', url: '/auth/logout', headers: { 'x-auth-mode': 'header' }, payload: { refresh_token: login.refresh_token } })
      t.equal(logout.statusCode, 204, 'a logout without the key answers as for an unknown token (logout never tells whether a token exists)...')

      t.equal((await meWith(app, login.access_token, victimKey)).statusCode, 200, "...and ends nothing: the victim's access token still works")
      const next = await refreshWith(app, login.refresh_token, await victimKey.proof('POST', '/auth/refresh'))
      t.equal(next.statusCode, 200, "the victim's refresh token was not spent by the attempts")

      // The spent token after the grace window would be theft (the session ends) with the key; without it, nothing happens.
      const replay = await refreshWith(app, login.refresh_token)
      t.equal(replay.json().code, 'DPOP_PROOF_INVALID', 'a spent token without the key does not trigger reuse detection')
      t.equal((await refreshWith(app, next.json().refresh_token, await victimKey.proof('POST', '/auth/refresh'))).statusCode, 200, 'the victim goes on')
    })

    t.test('each broken proof is refused at login, and opens nothing', async (t) => {
      const name = await register(app)
      const key = await dpopKey()
      const other = await dpopKey()
      const now = Math.floor(Date.now() / 1000)
      const forged = await (async () => {
        // A proof whose header names one key and whose signature is by another.
        const [, payload, sig] = (await other.proof('POST', '/auth/login')).split('.')
        const header = Buffer.from(JSON.stringify({ typ: 'dpop+jwt', alg: 'ES256', jwk: key.jwk })).toString('base64url')
        return `${header}.${payload}.${sig}`
      })()
      const cases: Array<[string, string]> = [
        ['htu with a query string', await key.proof('POST', '/auth/login', { htu: `${htuOf('/auth/login')}?x=1` })],
        ['htu of another path', await key.proof('POST', '/auth/register')],
        ['htu of another host', await key.proof('POST', '/auth/login', { htu: 'http://evil.example/auth/login' })],
        ['a wrong method', await key.proof('GET', '/auth/login')],
        ['an old iat', await key.proof('POST', '/auth/login', { iat: now - 120 })],
        ['an iat in the future', await key.proof('POST', '/auth/login', { iat: now + 120 })],
        ['a proof signed with another key', forged],
        ['a private JWK in the header', await key.proof('POST', '/auth/login', { header: { jwk: key.privateJwk } })],
        ['alg: none', unsignedProof(key.jwk, 'POST', '/auth/login')],
        ['an HMAC proof', hmacProof('POST', '/auth/login')],
        ['typ JWT', await key.proof('POST', '/auth/login', { header: { typ: 'JWT' } })],
        ['no jti', await key.proof('POST', '/auth/login', { claims: { jti: undefined } })],
        ['not a JWS', 'not.a-proof'],
        ['two proofs', `${await key.proof('POST', '/auth/login')}, ${await key.proof('POST', '/auth/login')}`]
      ]
      const sessions = async () => (await app.prisma.session.count())
      const before = await sessions()
      for (const [what, proof] of cases) {
        const res = await app.inject({ method: 'POST', url: '/auth/login', headers: { 'x-auth-mode': 'header', dpop: proof }, payload: { username: name, password: GOOD_PASSWORD } })
        t.equal(res.statusCode, 401, what)
        t.equal(res.json().code, 'DPOP_PROOF_INVALID', what)
      }
      t.equal(await sessions(), before, 'no session was opened')
    })

    t.test('a proof is accepted once', async (t) => {
      const key = await dpopKey()
      const name = await register(app)
      const proof = await key.proof('POST', '/auth/login')
      const login = (jwt: string) => app.inject({ method: 'POST', url: '/auth/login', headers: { 'x-auth-mode': 'header', dpop: jwt }, payload: { username: name, password: GOOD_PASSWORD } })
      t.equal((await login(proof)).statusCode, 200)
      const again = await login(proof)
      t.equal(again.statusCode, 401)
      t.equal(again.json().code, 'DPOP_PROOF_INVALID')

      const session = (await login(await key.proof('POST', '/auth/login'))).json()
      const meProof = await key.proof('GET', '/auth/me', { accessToken: session.access_token })
      const me = () => app.inject({ url: '/auth/me', headers: { authorization: `DPoP ${session.access_token}`, dpop: meProof } })
      t.equal((await me()).statusCode, 200)
      t.equal((await me()).json().code, 'DPOP_PROOF_INVALID', 'a resource proof replayed')
    })

    t.test('ath binds a resource proof to its access token', async (t) => {
      const key = await dpopKey()
      const name = await register(app)
      const a = (await boundLogin(app, key, name)).json()
      const b = (await boundLogin(app, key, name)).json()
      const proofForB = await key.proof('GET', '/auth/me', { accessToken: b.access_token })
      const res = await app.inject({ url: '/auth/me', headers: { authorization: `DPoP ${a.access_token}`, dpop: proofForB } })
      t.equal(res.json().code, 'DPOP_PROOF_INVALID')
      const noAth = await app.inject({ url: '/auth/me', headers: { authorization: `DPoP ${a.access_token}`, dpop: await key.proof('GET', '/auth/me') } })
      t.equal(noAth.json().code, 'DPOP_PROOF_INVALID', 'no ath')
    })

    t.test('an unbound session behaves as before; a DPoP scheme on its token is refused', async (t) => {
      const name = await register(app)
      const login = (await app.inject({ method: 'POST', url: '/auth/login', headers: { 'x-auth-mode': 'header' }, payload: { username: name, password: GOOD_PASSWORD } })).json()
      t.equal(login.token_type, 'Bearer')
      t.notOk(claimsOf(login.access_token).cnf)
      t.equal((await meWith(app, login.access_token, undefined, 'Bearer')).statusCode, 200)
      const key = await dpopKey()
      t.equal((await meWith(app, login.access_token, key)).json().code, 'TOKEN_INVALID', 'an unbound token under the DPoP scheme')
      t.equal((await refreshWith(app, login.refresh_token)).statusCode, 200)
      const list = await app.inject({ url: '/auth/sessions', headers: { authorization: `Bearer ${login.access_token}` } })
      t.same(list.json().map((s: { dpopBound: boolean }) => s.dpopBound), [false], 'and is listed as unbound')
    })

    t.test('an unbound session shown a proof at refresh is bound from then on', async (t) => {
      const name = await register(app)
      const key = await dpopKey()
      const login = (await app.inject({ method: 'POST', url: '/auth/login', headers: { 'x-auth-mode': 'header' }, payload: { username: name, password: GOOD_PASSWORD } })).json()
      const bound = await refreshWith(app, login.refresh_token, await key.proof('POST', '/auth/refresh'))
      t.equal(bound.json().token_type, 'DPoP')
      t.equal((await refreshWith(app, bound.json().refresh_token)).json().code, 'DPOP_PROOF_INVALID', 'the next refresh needs the key')
    })

    t.test('cookie mode binds too, and its answers carry csrf_token in the body', async (t) => {
      const name = await register(app)
      const key = await dpopKey()
      const login = await app.inject({ method: 'POST', url: '/auth/login', headers: { dpop: await key.proof('POST', '/auth/login') }, payload: { username: name, password: GOOD_PASSWORD } })
      t.equal(login.statusCode, 200)
      const cookies = Object.fromEntries(parseSetCookies(login).map((c) => [c.name, c.value]))
      t.equal(login.json().csrf_token, cookies.csrf_token, 'the body carries the CSRF value')
      t.notOk(login.json().refresh_token, 'never the refresh token')
      const cookie = `refresh_token=${cookies.refresh_token}; csrf_token=${cookies.csrf_token}`
      const refresh = (proof?: string) => app.inject({ method: 'POST', url: '/auth/refresh', headers: { cookie, 'x-csrf-token': login.json().csrf_token, ...(proof !== undefined ? { dpop: proof } : {}) } })
      t.equal((await refresh()).json().code, 'DPOP_PROOF_INVALID')
      const ok = await refresh(await key.proof('POST', '/auth/refresh'))
      t.equal(ok.statusCode, 200)
      t.equal(ok.json().csrf_token, cookies.csrf_token, 'the same session, the same CSRF value')
    })

    t.test('the login\'s second steps bind as the login does', async (t) => {
      // A passkey or TOTP step with a proof opens a bound session; here the TOTP step.
      const name = await register(app)
      const plain = (await app.inject({ method: 'POST', url: '/auth/login', headers: { 'x-auth-mode': 'header' }, payload: { username: name, password: GOOD_PASSWORD } })).json()
      const authorization = `Bearer ${plain.access_token}`
      const enrol = await app.inject({ method: 'POST', url: '/auth/mfa/totp', headers: { authorization } })
      const totp = new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(enrol.json().secret), digits: 6, period: 30, algorithm: 'SHA1' })
      t.equal((await app.inject({ method: 'POST', url: '/auth/mfa/totp/confirm', headers: { authorization }, payload: { code: totp.generate() } })).statusCode, 200)
      const key = await dpopKey()
      const first = (await boundLogin(app, key, name)).json()
      t.equal(first.mfa_required, true)
      const second = await app.inject({ method: 'POST', url: '/auth/login/mfa', headers: { 'x-auth-mode': 'header', dpop: await key.proof('POST', '/auth/login/mfa') }, payload: { mfa_token: first.mfa_token, code: totp.generate({ timestamp: Date.now() + 30_000 }) } })
      t.equal(second.statusCode, 200)
      t.same(claimsOf(second.json().access_token).cnf, { jkt: key.jkt })
    })
  })
}

t.test('a replayed proof is refused on another instance', async (t) => {
  const first = await buildApp(t, { backend: 'real' })
  const second = await buildApp(t, { backend: 'real', databaseUrl: first.databaseUrl, redis: first.redis })
  const key = await dpopKey()
  const name = await register(first.app)
  const session = (await boundLogin(first.app, key, name)).json()
  for (let i = 0; i < 10; i++) {
    const proof = await key.proof('GET', '/auth/me', { accessToken: session.access_token })
    const headers = { authorization: `DPoP ${session.access_token}`, dpop: proof }
    const [x, y] = i % 2 === 0 ? [first.app, second.app] : [second.app, first.app]
    // Both at once: exactly one of them accepts it.
    const [a, b] = await Promise.all([x.inject({ url: '/auth/me', headers }), y.inject({ url: '/auth/me', headers })])
    t.same([a.statusCode, b.statusCode].sort(), [200, 401], `round ${i}: one instance accepts it, the other refuses the replay`)
  }
  const refreshProof = await key.proof('POST', '/auth/refresh')
  t.equal((await refreshWith(first.app, session.refresh_token, refreshProof)).statusCode, 200)
  t.equal((await refreshWith(second.app, session.refresh_token, refreshProof)).json().code, 'DPOP_PROOF_INVALID', 'a refresh proof replayed on the other instance')
})

t.test('DPOP_REQUIRED=header refuses header-mode logins without a proof; cookie mode is unchanged', async (t) => {
  const { app } = await buildApp(t, { backend: 'embedded', env: { DPOP_REQUIRED: 'header' } })
  const name = await register(app)
  const plain = await app.inject({ method: 'POST', url: '/auth/login', headers: { 'x-auth-mode': 'header' }, payload: { username: name, password: GOOD_PASSWORD } })
  t.equal(plain.statusCode, 401)
  t.equal(plain.json().code, 'DPOP_PROOF_INVALID')
  t.equal((await boundLogin(app, await dpopKey(), name)).statusCode, 200)
  t.equal((await app.inject({ method: 'POST', url: '/auth/login', payload: { username: name, password: GOOD_PASSWORD } })).statusCode, 200, 'cookie mode')
})

t.test('DPOP_NONCE=on: a proof without the current nonce is answered with one, and the retry passes', async (t) => {
  const { app } = await buildApp(t, { backend: 'embedded', env: { DPOP_NONCE: 'on' } })
  const key = await dpopKey()
  const name = await register(app)
  const first = await boundLogin(app, key, name)
  t.equal(first.statusCode, 400, 'a token endpoint answers 400 (RFC 9449 section 8)')
  t.equal(first.json().code, 'USE_DPOP_NONCE')
  t.match(first.headers['www-authenticate'], /error="use_dpop_nonce"/)
  const nonce = first.headers['dpop-nonce'] as string
  t.ok(nonce, 'DPoP-Nonce carries the nonce')
  const login = await app.inject({ method: 'POST', url: '/auth/login', headers: { 'x-auth-mode': 'header', dpop: await key.proof('POST', '/auth/login', { nonce }) }, payload: { username: name, password: GOOD_PASSWORD } })
  t.equal(login.statusCode, 200)
  const token = login.json().access_token
  const me = await app.inject({ url: '/auth/me', headers: { authorization: `DPoP ${token}`, dpop: await key.proof('GET', '/auth/me', { accessToken: token }) } })
  t.equal(me.statusCode, 401, 'a resource answers 401 (section 9)')
  t.equal(me.json().code, 'USE_DPOP_NONCE')
  const withNonce = await app.inject({ url: '/auth/me', headers: { authorization: `DPoP ${token}`, dpop: await key.proof('GET', '/auth/me', { accessToken: token, nonce }) } })
  t.equal(withNonce.statusCode, 200)
  const forged = await app.inject({ url: '/auth/me', headers: { authorization: `DPoP ${token}`, dpop: await key.proof('GET', '/auth/me', { accessToken: token, nonce: nonce.slice(0, -2) + 'AA' }) } })
  t.equal(forged.json().code, 'USE_DPOP_NONCE', 'a made-up nonce')
})

t.test('behind TRUST_PROXY, htu is the public URL the client used', async (t) => {
  const { app } = await buildApp(t, { backend: 'embedded', env: { TRUST_PROXY: '127.0.0.1' } })
  const key = await dpopKey()
  const name = await register(app)
  const forwarded = { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'auth.example.com', 'x-auth-mode': 'header' }
  const login = (htu: string) => async () => app.inject({ method: 'POST', url: '/auth/login', remoteAddress: '127.0.0.1', headers: { ...forwarded, dpop: await key.proof('POST', '/auth/login', { htu }) }, payload: { username: name, password: GOOD_PASSWORD } })
  t.equal((await (await login('https://auth.example.com/auth/login'))()).statusCode, 200, 'the public URL')
  t.equal((await (await login('https://auth.example.com:443/auth/login'))()).statusCode, 200, 'with its default port written out')
  t.equal((await (await login('http://localhost/auth/login'))()).json().code, 'DPOP_PROOF_INVALID', 'the internal URL')
})

t.test('COOKIE_SAMESITE=None: both cookies are Secure and Partitioned', async (t) => {
  const { app } = await buildApp(t, { backend: 'embedded', env: { COOKIE_SAMESITE: 'None', COOKIE_SECURE: 'true' } })
  const name = await register(app)
  const login = await app.inject({ method: 'POST', url: '/auth/login', payload: { username: name, password: GOOD_PASSWORD } })
  for (const c of parseSetCookies(login)) {
    t.equal(c.attrs.samesite, 'None', c.name)
    t.equal(c.attrs.secure, true, c.name)
    t.equal(c.attrs.partitioned, true, c.name)
  }
  t.equal(typeof login.json().csrf_token, 'string')
})
