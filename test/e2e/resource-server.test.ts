// The example resource server, over real HTTP, against the real service on
// PostgreSQL and Redis: it accepts our tokens, follows a key rotation with
// nothing to do, and follows logouts, role changes and an emergency key
// revocation through the revocation feed. A token bound to a DPoP key is
// refused as a Bearer token and accepted only with a valid proof by its key.
import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { buildApp } from '../helpers/app.ts'
import { eventually } from '../helpers/servers.ts'
import { Client, uniqueName, GOOD_PASSWORD } from '../helpers/client.ts'
import { dpopKey, htuOf, type DpopKey } from '../helpers/dpop.ts'
import { createResourceServer } from '../../examples/resource-server/server.ts'

const FEED = 'resource-server-feed-token-0123456789abcdef'
const ADMIN = { username: 'rs-admin', password: 'the resource admin passphrase' }
const kidOf = (jwt: string) => JSON.parse(Buffer.from(jwt.split('.')[0], 'base64url').toString()).kid as string

t.test('a resource server follows rotation and revocation', async (t) => {
  const { app } = await buildApp(t, { backend: 'real', env: { JWKS_MAX_AGE: '1', REVOCATION_FEED_TOKEN: FEED, ADMIN_USERNAME: ADMIN.username, ADMIN_PASSWORD: ADMIN.password } })
  const authUrl = await app.listen({ port: 0, host: '127.0.0.1' })
  // Stale after 2 s without a read (ten polls): a loaded CI machine can stall a process for more than three.
  const rs: FastifyInstance = await createResourceServer({ authUrl, feedToken: FEED, pollMs: 200, staleMs: 2000 })
  t.teardown(() => rs.close())
  const hello = (token: string) => rs.inject({ url: '/api/hello', headers: { authorization: `Bearer ${token}` } })

  const admin = new Client(app, 'header')
  await admin.login(ADMIN.username, ADMIN.password)
  const user = new Client(app, 'header')
  const name = uniqueName('Remote')
  await user.register(name, GOOD_PASSWORD)
  await user.login(name, GOOD_PASSWORD)
  const hi = await hello(user.accessToken!)
  t.equal(hi.statusCode, 200)
  t.equal(hi.json().message, `Hello from the resource server, ${name}`)
  t.equal((await hello('not.a.token')).statusCode, 401)

  t.test('a token bound to a DPoP key: only with a proof by that key', async (t) => {
    const key = await dpopKey()
    const login = await app.inject({ method: 'POST', url: '/auth/login', headers: { 'x-auth-mode': 'header', dpop: await key.proof('POST', '/auth/login') }, payload: { username: name, password: GOOD_PASSWORD } })
    t.equal(login.json().token_type, 'DPoP')
    const token: string = login.json().access_token
    const withProof = async (proofKey: DpopKey, opts: Parameters<DpopKey['proof']>[2] = {}, scheme = 'DPoP') =>
      rs.inject({ url: '/api/hello', headers: { authorization: `${scheme} ${token}`, dpop: await proofKey.proof('GET', '/api/hello', { accessToken: token, ...opts }) } })

    const asBearer = await hello(token)
    t.equal(asBearer.statusCode, 401, 'as a Bearer token it is refused: holding it proves nothing')
    t.equal(asBearer.json().code, 'TOKEN_INVALID')
    t.match(asBearer.headers['www-authenticate'], /^DPoP /)
    t.equal((await withProof(key, {}, 'Bearer')).statusCode, 401, 'as a Bearer token even with a proof')

    const ok = await withProof(key)
    t.equal(ok.statusCode, 200, 'the DPoP scheme with a proof by its key')
    t.equal(ok.json().message, `Hello from the resource server, ${name}`)
    t.equal((await withProof(key, {}, 'dpop')).statusCode, 200, 'the scheme in any case')

    const refusals: Array<[string, () => Promise<{ statusCode: number, json: () => { code: string } }>]> = [
      ['a proof by another key', async () => withProof(await dpopKey())],
      ['a wrong htu (another host)', () => withProof(key, { htu: htuOf('/api/hello', 'http://elsewhere.example') })],
      ['a wrong htu (another path)', () => withProof(key, { htu: htuOf('/api/other') })],
      ['an htu with a query', () => withProof(key, { htu: htuOf('/api/hello?x=1') })],
      ['a wrong htm', async () => rs.inject({ url: '/api/hello', headers: { authorization: `DPoP ${token}`, dpop: await key.proof('POST', '/api/hello', { accessToken: token }) } })],
      ['a wrong ath (another token)', () => withProof(key, { accessToken: user.accessToken! })],
      ['no ath', async () => rs.inject({ url: '/api/hello', headers: { authorization: `DPoP ${token}`, dpop: await key.proof('GET', '/api/hello') } })],
      ['an old iat', () => withProof(key, { iat: Math.floor(Date.now() / 1000) - 120 })],
      ['a private key in the header', () => withProof(key, { header: { jwk: key.privateJwk } })],
      ['another typ', () => withProof(key, { header: { typ: 'JWT' } })],
      ['no proof at all', () => rs.inject({ url: '/api/hello', headers: { authorization: `DPoP ${token}` } })]
    ]
    for (const [what, send] of refusals) {
      const res = await send()
      t.equal(res.statusCode, 401, what)
      t.equal(res.json().code, 'DPOP_PROOF_INVALID', what)
    }

    const once = await key.proof('GET', '/api/hello', { accessToken: token })
    const replay = () => rs.inject({ url: '/api/hello', headers: { authorization: `DPoP ${token}`, dpop: once } })
    t.equal((await replay()).statusCode, 200, 'a proof is good once')
    t.equal((await replay()).json().code, 'DPOP_PROOF_INVALID', 'its jti reused: refused')

    const unbound = await rs.inject({ url: '/api/hello', headers: { authorization: `DPoP ${user.accessToken!}`, dpop: await key.proof('GET', '/api/hello', { accessToken: user.accessToken! }) } })
    t.equal(unbound.json().code, 'TOKEN_INVALID', 'an unbound token under the DPoP scheme')
  })

  t.test('the feed is for resource servers only', async (t) => {
    t.equal((await app.inject('/auth/revocations')).statusCode, 401)
    t.equal((await app.inject({ url: '/auth/revocations', headers: { authorization: 'Bearer wrong' } })).json().code, 'TOKEN_INVALID')
    t.equal((await app.inject({ url: '/auth/revocations?since=0', headers: { authorization: `bearer ${FEED}` } })).statusCode, 200, 'the scheme in any case (RFC 7235)')
    const ok = await app.inject({ url: '/auth/revocations?since=0', headers: { authorization: `Bearer ${FEED}` } })
    t.equal(ok.statusCode, 200)
    t.type(ok.json().next, 'number')
  })

  t.test('a rotation: the new key is fetched on its first token, the old one keeps working', async (t) => {
    const before = user.accessToken!
    const next = (await admin.request('POST', '/admin/keys/rotate')).json().kid
    await new Promise((resolve) => setTimeout(resolve, 1200))
    await user.refresh()
    t.equal(kidOf(user.accessToken!), next)
    t.equal((await hello(user.accessToken!)).statusCode, 200, 'a token of the new key is accepted')
    t.equal((await hello(before)).statusCode, 200, 'and one of the old key still is')
  })

  t.test('a logout and a role change reach it through the feed', async (t) => {
    const other = new Client(app, 'header')
    await other.login(name, GOOD_PASSWORD)
    t.equal((await hello(other.accessToken!)).statusCode, 200)
    await other.logout()
    t.ok(await eventually(async () => (await hello(other.accessToken!)).statusCode === 401, 3000, 50), 'the ended session is refused')
    t.equal((await hello(user.accessToken!)).statusCode, 200, 'the other session is not')
    const id = (await user.me()).json().id
    await admin.request('PUT', `/admin/users/${id}/roles`, { body: { roles: ['user'] } })
    t.ok(await eventually(async () => (await hello(user.accessToken!)).json().code === 'TOKEN_REVOKED', 3000, 50), 'a role change ends the old token')
    await user.refresh()
    t.equal((await hello(user.accessToken!)).statusCode, 200, 'the refreshed one works')
  })

  t.test('an emergency key revocation reaches it through the feed', async (t) => {
    const doomed = kidOf(user.accessToken!)
    t.equal((await admin.request('POST', `/admin/keys/${doomed}/revoke`)).statusCode, 200)
    t.ok(await eventually(async () => (await hello(user.accessToken!)).statusCode === 401, 3000, 50), "the revoked key's tokens are refused")
    t.equal((await user.refresh()).statusCode, 200)
    t.not(kidOf(user.accessToken!), doomed)
    // jose fetches the key set again on an unknown kid, at most once per cooldown (1 s here).
    t.ok(await eventually(async () => (await hello(user.accessToken!)).statusCode === 200, 3000, 100), 'the new key is fetched and accepted within the cooldown')
  })

  t.test('it fails closed when the feed cannot be read', async (t) => {
    await app.close()
    t.ok(await eventually(async () => (await hello(user.accessToken!)).statusCode === 503, 6000, 100), '503 once the last read is stale')
  })
})
