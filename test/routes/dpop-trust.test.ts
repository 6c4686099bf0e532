// DPoP never opens a way around the other protections (docs/api.md
// "Sender-constrained tokens"): a stolen token bound to a thief's key is still
// caught by reuse detection, an old session outlives DPOP_REQUIRED, a logout
// with a stale nonce is never a silent no-op, and no access token outlives
// its session.
import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { buildApp, backends } from '../helpers/app.ts'
import { GOOD_PASSWORD, uniqueName, parseSetCookies } from '../helpers/client.ts'
import { dpopKey, type DpopKey } from '../helpers/dpop.ts'

async function register (app: FastifyInstance) {
  const name = uniqueName('trust')
  const res = await app.inject({ method: 'POST', url: '/auth/register', payload: { username: name, password: GOOD_PASSWORD } })
  if (res.statusCode !== 201) throw new Error(`register: ${res.body}`)
  return name
}

async function headerLogin (app: FastifyInstance, name: string, key?: DpopKey) {
  const headers: Record<string, string> = { 'x-auth-mode': 'header' }
  if (key !== undefined) headers.dpop = await key.proof('POST', '/auth/login')
  const res = await app.inject({ method: 'POST', url: '/auth/login', headers, payload: { username: name, password: GOOD_PASSWORD } })
  if (res.statusCode !== 200) throw new Error(`login: ${res.body}`)
  return res.json()
}

async function refreshWith (app: FastifyInstance, refreshToken: string, key?: DpopKey) {
  const headers: Record<string, string> = { 'x-auth-mode': 'header' }
  if (key !== undefined) headers.dpop = await key.proof('POST', '/auth/refresh')
  return await app.inject({ method: 'POST', url: '/auth/refresh', headers, payload: { refresh_token: refreshToken } })
}

async function me (app: FastifyInstance, accessToken: string, key?: DpopKey) {
  const headers: Record<string, string> = { authorization: `${key === undefined ? 'Bearer' : 'DPoP'} ${accessToken}` }
  if (key !== undefined) headers.dpop = await key.proof('GET', '/auth/me', { accessToken })
  return await app.inject({ url: '/auth/me', headers })
}

const claimsOf = (token: string) => JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString())

for (const backend of backends) {
  t.test(`${backend} backend`, async (t) => {
    // No grace: a spent token shown again is reuse at once.
    const { app } = await buildApp(t, { backend, env: { REFRESH_REUSE_GRACE: '0' } })

    // The owner shows the spent token with each kind of proof a real client could send.
    for (const [shown, ownerKey] of [['no proof', undefined], ['a proof by another key', 'other'], ['a proof by the thief\'s own key', 'thief']] as const) {
      t.test(`a stolen unbound token laundered through the thief's key is caught when the owner shows the spent one (${shown})`, async (t) => {
        const name = await register(app)
        const owner = await headerLogin(app, name)
        const thiefKey = await dpopKey()
        const laundered = await refreshWith(app, owner.refresh_token, thiefKey)
        t.equal(laundered.statusCode, 200, 'the thief refreshes the stolen token with a key of their own')
        t.equal(laundered.json().token_type, 'DPoP')
        t.equal((await me(app, laundered.json().access_token, thiefKey)).statusCode, 200)

        const key = ownerKey === undefined ? undefined : ownerKey === 'thief' ? thiefKey : await dpopKey()
        const reuse = await refreshWith(app, owner.refresh_token, key)
        t.equal(reuse.statusCode, 401)
        t.equal(reuse.json().code, 'REFRESH_TOKEN_REUSED', 'reuse detection runs: the session is ended')

        t.equal((await refreshWith(app, laundered.json().refresh_token, thiefKey)).json().code, 'INVALID_REFRESH_TOKEN', 'the thief\'s refresh token is dead')
        t.equal((await me(app, laundered.json().access_token, thiefKey)).json().code, 'TOKEN_REVOKED', 'and the thief\'s access token at once')
      })
    }

    t.test('cookie mode: a stolen cookie bound by a thief is caught the same way', async (t) => {
      const name = await register(app)
      const login = await app.inject({ method: 'POST', url: '/auth/login', payload: { username: name, password: GOOD_PASSWORD } })
      const cookies = Object.fromEntries(parseSetCookies(login).map((c) => [c.name, c.value]))
      const headers = { cookie: `refresh_token=${cookies.refresh_token}; csrf_token=${cookies.csrf_token}`, 'x-csrf-token': cookies.csrf_token }
      const thiefKey = await dpopKey()
      const laundered = await app.inject({ method: 'POST', url: '/auth/refresh', headers: { ...headers, dpop: await thiefKey.proof('POST', '/auth/refresh') } })
      t.equal(laundered.statusCode, 200)
      const reuse = await app.inject({ method: 'POST', url: '/auth/refresh', headers })
      t.equal(reuse.json().code, 'REFRESH_TOKEN_REUSED')
      t.equal((await me(app, laundered.json().access_token, thiefKey)).json().code, 'TOKEN_REVOKED')
    })

    t.test('a session bound when it opened: a spent token without the key ends nothing', async (t) => {
      const name = await register(app)
      const key = await dpopKey()
      const login = await headerLogin(app, name, key)
      const next = await refreshWith(app, login.refresh_token, key)
      t.equal(next.statusCode, 200)
      const stolen = await refreshWith(app, login.refresh_token)
      t.equal(stolen.json().code, 'DPOP_PROOF_INVALID', 'a thief with only the spent token is refused')
      const other = await refreshWith(app, login.refresh_token, await dpopKey())
      t.equal(other.json().code, 'DPOP_PROOF_INVALID', 'and with a key of their own')
      t.equal((await refreshWith(app, next.json().refresh_token, key)).statusCode, 200, 'the owner\'s session goes on')
    })

    t.test('a session bound at a refresh: its live token without the key is refused and ends nothing', async (t) => {
      const name = await register(app)
      const login = await headerLogin(app, name)
      const key = await dpopKey()
      const bound = await refreshWith(app, login.refresh_token, key)
      const noKey = await refreshWith(app, bound.json().refresh_token)
      t.equal(noKey.json().code, 'DPOP_PROOF_INVALID')
      t.equal((await refreshWith(app, bound.json().refresh_token, key)).statusCode, 200, 'the key holder still refreshes')
    })
  })

  t.test(`${backend} backend: inside the grace window a bound-at-refresh session hands nothing to a keyless racer`, async (t) => {
    const { app } = await buildApp(t, { backend })
    const name = await register(app)
    const login = await headerLogin(app, name)
    const key = await dpopKey()
    const bound = await refreshWith(app, login.refresh_token, key)
    t.equal(bound.statusCode, 200)
    const racer = await refreshWith(app, login.refresh_token)
    t.equal(racer.statusCode, 401, 'no Bearer token of a bound session, and not the head of its chain')
    t.equal(racer.json().code, 'DPOP_PROOF_INVALID')
    const again = await refreshWith(app, login.refresh_token, key)
    t.equal(again.statusCode, 200, 'the key holder retrying inside the window gets the head')
    t.equal(again.json().refresh_token, bound.json().refresh_token)
    t.same(claimsOf(again.json().access_token).cnf, { jkt: key.jkt })
  })

  t.test(`${backend} backend: no access token outlives its session`, async (t) => {
    const { app } = await buildApp(t, { backend, env: { ACCESS_TOKEN_TTL: '900', REFRESH_TOKEN_TTL: '60', SESSION_MAX_LIFETIME: '60' } })
    const name = await register(app)
    const login = await headerLogin(app, name)
    const claims = claimsOf(login.access_token)
    t.ok(claims.exp - claims.iat <= 60, `the login's token ends with its session (${claims.exp - claims.iat} s)`)
    t.ok(login.expires_in <= 60, 'and expires_in says so')
    const refreshed = await refreshWith(app, login.refresh_token)
    const after = claimsOf(refreshed.json().access_token)
    t.ok(after.exp <= claims.iat + 61, 'a refresh does not extend it past the session\'s end')
    t.equal(refreshed.json().expires_in, after.exp - after.iat)
  })
}

t.test('DPOP_REQUIRED=header: a session opened without a proof before it was turned on keeps refreshing', async (t) => {
  const before = await buildApp(t, { backend: 'real' })
  const name = await register(before.app)
  const session = await headerLogin(before.app, name)
  const after = await buildApp(t, { backend: 'real', databaseUrl: before.databaseUrl, redis: before.redis, env: { DPOP_REQUIRED: 'header' } })
  const refreshed = await refreshWith(after.app, session.refresh_token)
  t.equal(refreshed.statusCode, 200, 'its refresh needs no proof')
  t.equal(refreshed.json().token_type, 'Bearer')
  const login = await after.app.inject({ method: 'POST', url: '/auth/login', headers: { 'x-auth-mode': 'header' }, payload: { username: name, password: GOOD_PASSWORD } })
  t.equal(login.json().code, 'DPOP_PROOF_INVALID', 'a new header-mode login still needs one')
})

t.test('DPOP_NONCE=on: a logout whose proof has a stale nonce is answered USE_DPOP_NONCE, never a silent no-op', async (t) => {
  const { app } = await buildApp(t, { backend: 'embedded', env: { DPOP_NONCE: 'on' } })
  const key = await dpopKey()
  const name = await register(app)
  const first = await app.inject({ method: 'POST', url: '/auth/login', headers: { 'x-auth-mode': 'header', dpop: await key.proof('POST', '/auth/login') }, payload: { username: name, password: GOOD_PASSWORD } })
  const nonce = first.headers['dpop-nonce'] as string
  const login = await app.inject({ method: 'POST', url: '/auth/login', headers: { 'x-auth-mode': 'header', dpop: await key.proof('POST', '/auth/login', { nonce }) }, payload: { username: name, password: GOOD_PASSWORD } })
  const { access_token: accessToken, refresh_token: refreshToken } = login.json()
  const stale = nonce.slice(0, -2) + 'AA'

  const logout = async (n: string, withRefresh: boolean) => app.inject({
    method: 'POST',
    url: '/auth/logout',
    headers: { 'x-auth-mode': 'header', authorization: `DPoP ${accessToken}`, dpop: await key.proof('POST', '/auth/logout', withRefresh ? { nonce: n } : { nonce: n, accessToken }) },
    payload: withRefresh ? { refresh_token: refreshToken } : {}
  })
  const meNow = async () => app.inject({ url: '/auth/me', headers: { authorization: `DPoP ${accessToken}`, dpop: await key.proof('GET', '/auth/me', { accessToken, nonce }) } })

  const byRefresh = await logout(stale, true)
  t.equal(byRefresh.statusCode, 400, 'with the refresh token: the token endpoint\'s answer')
  t.equal(byRefresh.json().code, 'USE_DPOP_NONCE')
  t.ok(byRefresh.headers['dpop-nonce'], 'with the nonce to retry with')
  const byAccess = await logout(stale, false)
  t.equal(byAccess.statusCode, 401, 'with the access token alone: the resource\'s answer')
  t.equal(byAccess.json().code, 'USE_DPOP_NONCE')
  t.equal((await meNow()).statusCode, 200, 'nothing ended, and the client was told so')

  t.equal((await logout(nonce, true)).statusCode, 204, 'the retry with the nonce')
  t.equal((await meNow()).json().code, 'TOKEN_REVOKED', 'ends the session')
  const unknown = await app.inject({ method: 'POST', url: '/auth/logout', headers: { 'x-auth-mode': 'header', dpop: await key.proof('POST', '/auth/logout', { nonce: stale }) }, payload: { refresh_token: 'x'.repeat(43) } })
  t.equal(unknown.json().code, 'USE_DPOP_NONCE', 'the same answer for a token that does not exist: it tells nothing')
})

t.test('PUBLIC_URL: htu must name the public origin, whatever Host the client sends', async (t) => {
  const { app } = await buildApp(t, { backend: 'embedded', env: { PUBLIC_URL: 'https://auth.example.com' } })
  const key = await dpopKey()
  const name = await register(app)
  const login = async (htu: string, host = 'localhost') => app.inject({ method: 'POST', url: '/auth/login', headers: { host, 'x-auth-mode': 'header', dpop: await key.proof('POST', '/auth/login', { htu }) }, payload: { username: name, password: GOOD_PASSWORD } })
  t.equal((await login('https://auth.example.com/auth/login')).statusCode, 200, 'the public URL')
  t.equal((await login('http://localhost/auth/login')).json().code, 'DPOP_PROOF_INVALID', 'the URL the Host header makes')
  t.equal((await login('https://evil.example/auth/login', 'evil.example')).json().code, 'DPOP_PROOF_INVALID', 'a Host header of the attacker\'s choosing')
})
