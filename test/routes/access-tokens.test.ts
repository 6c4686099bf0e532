// Forged, foreign, expired and misused access tokens are refused with the API's codes.
import t from 'tap'
import { createHmac, generateKeyPairSync, createSign } from 'node:crypto'
import { keyEncryptionKey, privateFromRow, type KeyRow } from '../../src/keys/signing-keys.ts'
import { createSigner } from 'fast-jwt'
import { buildApp } from '../helpers/app.ts'
import { Client, uniqueName, GOOD_PASSWORD } from '../helpers/client.ts'

const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url')

t.test('access tokens', async (t) => {
  const { app, config } = await buildApp(t, { backend: 'embedded', env: { ACCESS_TOKEN_TTL: '2' } })
  const c = new Client(app, 'header')
  const name = uniqueName('Tok')
  await c.register(name, GOOD_PASSWORD)
  await c.login(name, GOOD_PASSWORD)
  const token = c.accessToken!
  const [h, p, s] = token.split('.')
  const header = JSON.parse(Buffer.from(h, 'base64url').toString())
  const claims = JSON.parse(Buffer.from(p, 'base64url').toString())

  // Our own managed key, out of the database: forgeries below differ from a real token only in what they name.
  const row = await app.prisma.signingKey.findUniqueOrThrow({ where: { kid: header.kid } })
  const privatePem = privateFromRow(keyEncryptionKey(config.keyEncryptionSecret!), row as KeyRow).export({ format: 'pem', type: 'pkcs8' }).toString()
  const publicPem = (await import('node:crypto')).createPublicKey(privatePem).export({ format: 'pem', type: 'spki' }).toString()
  const ownKey = (payload: Record<string, unknown>) =>
    createSigner({ key: privatePem, algorithm: 'ES256', kid: header.kid, header: { typ: 'at+jwt' } } as any)(payload)
  const call = (authorization?: string) => app.inject({ method: 'GET', url: '/auth/me', headers: authorization === undefined ? {} : { authorization } })

  t.test('the token has the claims of API.md', async (t) => {
    t.equal(header.typ, 'at+jwt')
    t.equal(header.alg, 'ES256')
    t.type(header.kid, 'string')
    t.same(Object.keys(claims).sort(), ['amr', 'aud', 'auth_time', 'exp', 'iat', 'iss', 'jti', 'preferred_username', 'roles', 'sid', 'sub', 'ver'])
    t.equal(claims.ver, 0, "the user's token version: none of their tokens was revoked yet")
    t.same(claims.amr, ['pwd'], 'signed in with a password (RFC 8176)')
    t.ok(Number.isInteger(claims.auth_time) && claims.auth_time <= claims.iat, 'auth_time: when the session signed in')
    t.equal(claims.exp - claims.iat, 2)
    t.equal(claims.iss, config.jwtIssuer)
    const jwks = (await app.inject('/.well-known/jwks.json')).json()
    t.equal(jwks.keys.length, 1)
    t.equal(jwks.keys[0].kid, header.kid)
    t.notOk('d' in jwks.keys[0], 'no private part is published')
  })

  t.test('missing and malformed', async (t) => {
    const missing = await call()
    t.equal(missing.statusCode, 401)
    t.equal(missing.json().code, 'TOKEN_MISSING')
    t.equal(missing.headers['www-authenticate'], 'Bearer realm="auth"')
    for (const bad of ['Bearer', 'Basic abc', `Bearer ${token} extra`, 'Bearer ' + 'a'.repeat(5000), 'Bearer not.a.jwt']) {
      const res = await call(bad)
      t.equal(res.statusCode, 401, bad.slice(0, 30))
      t.equal(res.json().code, 'TOKEN_INVALID')
    }
  })

  t.test('forged tokens', async (t) => {
    // Fresh times: each case must fail for what it names, not for expiry (this suite's TTL is 2 s).
    const now = Math.floor(Date.now() / 1000)
    const fresh = { ...claims, iat: now, exp: now + 600 }
    const pf = b64(fresh)
    const forged: Record<string, string> = {
      'alg none': `${b64({ alg: 'none', typ: 'at+jwt' })}.${pf}.`,
      'tampered claims': `${h}.${b64({ ...fresh, roles: ['admin'] })}.${s}`,
      'wrong typ': `${b64({ ...header, typ: 'JWT' })}.${pf}.${s}`,
      // Algorithm confusion: HMAC keyed with the published public key.
      'HS256 keyed with the public key': (() => {
        const hh = b64({ alg: 'HS256', typ: 'at+jwt', kid: header.kid })
        return `${hh}.${pf}.${createHmac('sha256', publicPem).update(`${hh}.${pf}`).digest('base64url')}`
      })(),
      'foreign key': (() => {
        const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
        const input = `${h}.${pf}`
        const sig = createSign('SHA256').update(input).sign({ key: privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64url')
        return `${input}.${sig}`
      })(),
      'foreign issuer, same key': ownKey({ ...fresh, iss: 'evil' }),
      'foreign audience, same key': ownKey({ ...fresh, aud: 'other-api' }),
      'no sid, same key': ownKey({ ...fresh, sid: undefined }),
      // Refused before any key is looked up: a kid no key of ours has.
      'unknown kid, our key': createSigner({ key: privatePem, algorithm: 'ES256', kid: 'not-a-kid-of-ours', header: { typ: 'at+jwt' } } as any)(fresh),
      // The kid pins its algorithm: an Ed25519 signature under our ES256 key's kid.
      'another algorithm under our kid': (() => {
        const { privateKey } = generateKeyPairSync('ed25519')
        return createSigner({ key: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(), algorithm: 'EdDSA', kid: header.kid, header: { typ: 'at+jwt' } } as any)(fresh)
      })()
    }
    t.equal((await call(`Bearer ${ownKey(fresh)}`)).statusCode, 200, 'control: our key, issuer and audience are accepted')
    for (const [what, jwt] of Object.entries(forged)) {
      const res = await call(`Bearer ${jwt}`)
      t.equal(res.statusCode, 401, what)
      t.equal(res.json().code, 'TOKEN_INVALID', what)
    }
    const refreshAsAccess = await call(`Bearer ${c.refreshToken}`)
    t.equal(refreshAsAccess.json().code, 'TOKEN_INVALID', 'a refresh token is not an access token')
  })

  t.test('expiry', async (t) => {
    const e = new Client(app, 'header')
    await e.login(name, GOOD_PASSWORD)
    const short = e.accessToken!
    t.equal((await call(`Bearer ${short}`)).statusCode, 200)
    await new Promise((resolve) => setTimeout(resolve, 3100))
    const res = await call(`Bearer ${short}`)
    t.equal(res.statusCode, 401, 'the verification cache never outlives exp')
    t.equal(res.json().code, 'TOKEN_EXPIRED')
    t.match(res.headers['www-authenticate'], /error="invalid_token"/)
  })
})
