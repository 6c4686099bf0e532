// Where signing keys and the session secret come from. Static keys:
// JWT_PRIVATE_KEY (PEM: EC P-256, Ed25519 or RSA) or JWT_SECRET (HS256).
// Otherwise keys are managed in the database (signing-keys.ts), encrypted
// with KEY_ENCRYPTION_SECRET; in development, when that is unset, a secret
// is generated once into DATA_DIR.
import { createHash, createPrivateKey, createPublicKey, hkdfSync, randomBytes, type KeyObject } from 'node:crypto'
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs'
import { join } from 'node:path'
import { ConfigError, type Config } from '../config.ts'
import type { PrismaClient } from '../generated/prisma/client.ts'
import { createKeyStore } from './store.ts'
import { keyEncryptionKey, KEY_RETIRE_SKEW_MS, materialFromPrivate, sessionSecretFrom, thumbprint, type KeyMaterial } from './signing-keys.ts'

export interface StaticKey { material: KeyMaterial, jwk: Record<string, unknown> | undefined }

function fromPrivateKey (pem: string): StaticKey {
  let key: KeyObject
  try { key = createPrivateKey(pem) } catch { throw new ConfigError('JWT_PRIVATE_KEY is not a readable PEM private key') }
  let alg: KeyMaterial['alg']
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') alg = 'ES256'
  else if (key.asymmetricKeyType === 'ed25519') alg = 'EdDSA'
  else if (key.asymmetricKeyType === 'rsa' && (key.asymmetricKeyDetails?.modulusLength ?? 0) >= 2048) alg = 'RS256'
  else throw new ConfigError('JWT_PRIVATE_KEY must be an EC P-256, Ed25519 or RSA (2048 bits or more) key')
  const jwk = createPublicKey(key).export({ format: 'jwk' }) as Record<string, unknown>
  const kid = thumbprint(jwk)
  return { material: materialFromPrivate(kid, alg, key), jwk: { ...jwk, kid, alg, use: 'sig' } }
}

/** The static key, if the configuration names one; undefined: keys are managed. */
export function staticKey (config: { jwtPrivateKey?: string, jwtSecret?: string }): StaticKey | undefined {
  if (config.jwtPrivateKey !== undefined) return fromPrivateKey(config.jwtPrivateKey.replace(/\\n/g, '\n'))
  if (config.jwtSecret !== undefined) {
    const kid = 'hs-' + createHash('sha256').update(config.jwtSecret).digest('base64url').slice(0, 8)
    return { material: { kid, alg: 'HS256', signingKey: config.jwtSecret, verifyingKey: config.jwtSecret }, jwk: undefined }
  }
  return undefined
}

/** KEY_ENCRYPTION_SECRET, or (development) one generated once into DATA_DIR. */
export function keyEncryptionSecret (config: { keyEncryptionSecret?: string, dataDir: string }): { secret: string, generated: boolean } {
  if (config.keyEncryptionSecret !== undefined) return { secret: config.keyEncryptionSecret, generated: false }
  const dir = join(config.dataDir, 'keys')
  const file = join(dir, 'key-encryption-secret')
  if (!existsSync(file)) {
    mkdirSync(dir, { recursive: true, mode: 0o700 })
    // 'wx': if another process wrote it first, keep theirs.
    try { writeFileSync(file, randomBytes(32).toString('base64url'), { mode: 0o600, flag: 'wx' }) } catch {}
  }
  return { secret: readFileSync(file, 'utf8').trim(), generated: true }
}

/**
 * The HMAC key behind CSRF values and refresh-token successors: its own
 * secret, so that no signing-key change breaks a session. SESSION_SECRET if
 * set; else derived from KEY_ENCRYPTION_SECRET (managed keys); else, with a
 * static key and no SESSION_SECRET, derived from that key as before it had
 * its own (changing the key then ends cookie sessions: set SESSION_SECRET).
 */
export function sessionSecret (config: { sessionSecret?: string }, keys: { static?: StaticKey, kekSecret?: string }): { key: Buffer, fromSigningKey: boolean } {
  if (config.sessionSecret !== undefined) return { key: sessionSecretFrom(config.sessionSecret), fromSigningKey: false }
  if (keys.kekSecret !== undefined) return { key: sessionSecretFrom(keys.kekSecret), fromSigningKey: false }
  const material = keys.static!.material.signingKey
  return { key: createHash('sha256').update('auth-service hmac v1\0').update(material).digest(), fromSigningKey: true }
}

/**
 * The key TOTP secrets are sealed with: from KEY_ENCRYPTION_SECRET (given, or
 * the one managed keys use), else from SESSION_SECRET, else from the session
 * key a static signing key yields. The same on every instance either way.
 */
export function factorKey (config: { keyEncryptionSecret?: string, sessionSecret?: string }, kekSecret: string | undefined, sessionKey: Buffer): Buffer {
  const base = config.keyEncryptionSecret ?? kekSecret ?? config.sessionSecret ?? sessionKey
  return Buffer.from(hkdfSync('sha256', base, 'auth-service', 'auth-service second factors v1', 32))
}

/**
 * The secrets the services take (the session HMAC key and the key that seals
 * second factors), as the signing-keys plugin and the CLI both derive them.
 * `kekSecret`: the key-encryption secret of managed keys (undefined with a static key).
 */
export function serviceSecrets (config: Config, fixed: StaticKey | undefined, kekSecret: string | undefined): { sessionSecret: Buffer, factorKey: Buffer, fromSigningKey: boolean } {
  const session = sessionSecret(config, { static: fixed, kekSecret })
  return { sessionSecret: session.key, factorKey: factorKey(config, kekSecret, session.key), fromSigningKey: session.fromSigningKey }
}

/** The managed key store as the configuration sets it up; the service and the CLI share it. */
export function managedKeyStore (config: Config, prisma: PrismaClient) {
  const kek = keyEncryptionSecret(config)
  // After a key stops signing, its tokens live ACCESS_TOKEN_TTL more; the margin covers instances whose clocks
  // switch a little late (at most JWKS_MAX_AGE, the slack verifiers are given anyway).
  const retireAfterMs = config.accessTokenTtl * 1000 + Math.min(KEY_RETIRE_SKEW_MS, config.jwksMaxAge * 1000)
  const key = keyEncryptionKey(kek.secret)
  const store = createKeyStore({
    prisma,
    kek: key,
    alg: config.keyAlgorithm,
    rotationIntervalMs: config.keyRotationInterval * 1000,
    jwksMaxAgeMs: config.jwksMaxAge * 1000,
    retireAfterMs
  })
  return { store, kek: key, kekSecret: kek.secret, generated: kek.generated, retireAfterMs }
}
