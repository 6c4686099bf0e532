// The pieces of managed keys that need no server: states from times,
// encryption at rest bound to the kid, and EdDSA end to end.
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { decryptPrivateKey, encryptPrivateKey, generateKeyRow, keyEncryptionKey, keyStates, privateFromRow, type KeyRow } from '../../src/keys/signing-keys.ts'
import { buildApp } from '../helpers/app.ts'
import { signedIn } from '../helpers/client.ts'

const kek = keyEncryptionKey('unit-test-key-encryption-secret-0123456789')
const at = (s: number) => new Date(s * 1000)
const row = (kid: string, signsFrom: number, revoked?: number): KeyRow => ({ kid, alg: 'ES256', publicJwk: {}, privateKey: '', createdAt: at(signsFrom - 5), signsFrom: at(signsFrom), revokedAt: revoked === undefined ? null : at(revoked) })

t.test('states follow from the times alone', async (t) => {
  const rows = [row('a', 0), row('b', 100), row('c', 200)]
  const states = (now: number) => Object.fromEntries([...keyStates(rows, now * 1000, 10_000)].map(([k, v]) => [k, v.state]))
  t.same(states(50), { a: 'current', b: 'next', c: 'next' })
  t.same(states(105), { a: 'verifying', b: 'current', c: 'next' }, 'a key verifies on after it stops signing')
  t.same(states(111), { a: 'retired', b: 'current', c: 'next' }, 'and retires once its last token has expired')
  t.same(states(205), { a: 'retired', b: 'verifying', c: 'current' })
  t.equal(keyStates(rows, 105_000, 10_000).get('a')!.retiresAt!.getTime(), 110_000)
  const revoked = [row('a', 0), row('b', 100, 150), row('c', 150)]
  t.same(Object.fromEntries([...keyStates(revoked, 160_000, 10_000)].map(([k, v]) => [k, v.state])), { a: 'retired', b: 'revoked', c: 'current' }, 'a revoked key never verifies again; its replacement signs')
})

t.test('private keys are sealed with AES-256-GCM and bound to their kid', async (t) => {
  const r = generateKeyRow('ES256', kek, new Date(), new Date())
  t.notMatch(r.privateKey, /BEGIN|PRIVATE/, 'no PEM in the column')
  t.equal(privateFromRow(kek, r).asymmetricKeyType, 'ec')
  t.throws(() => decryptPrivateKey(keyEncryptionKey('another-secret-entirely-0123456789abc'), r.kid, r.privateKey), /cannot be decrypted with this KEY_ENCRYPTION_SECRET/)
  t.throws(() => decryptPrivateKey(kek, 'another-kid', r.privateKey), /cannot be decrypted/, 'a sealed key moved to another kid does not open')
  const tampered = r.privateKey.slice(0, -2) + (r.privateKey.endsWith('A') ? 'BB' : 'AA')
  t.throws(() => decryptPrivateKey(kek, r.kid, tampered), /cannot be decrypted/, 'nor does a tampered one')
  const der = randomBytes(40)
  t.same(decryptPrivateKey(kek, 'k', encryptPrivateKey(kek, 'k', der)), der)
  t.not(encryptPrivateKey(kek, 'k', der), encryptPrivateKey(kek, 'k', der), 'a fresh IV each time')
})

t.test('KEY_ALGORITHM=EdDSA signs and verifies with Ed25519', async (t) => {
  const { app } = await buildApp(t, { backend: 'embedded', env: { KEY_ALGORITHM: 'EdDSA' } })
  const { c } = await signedIn(app, 'Edwards')
  t.equal(JSON.parse(Buffer.from(c.accessToken!.split('.')[0], 'base64url').toString()).alg, 'EdDSA')
  t.equal((await c.me()).statusCode, 200)
  const [key] = (await app.inject('/.well-known/jwks.json')).json().keys
  t.match(key, { kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA', use: 'sig' })
  t.notOk('d' in key)
})
