// Signing keys. JWT_PRIVATE_KEY (PEM: EC P-256, Ed25519 or RSA) or JWT_SECRET
// (HS256) when given; otherwise an ES256 key generated once into DATA_DIR.
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto'
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs'
import { join } from 'node:path'
import { ConfigError } from '../config.ts'

export interface SigningKey {
  algorithm: 'ES256' | 'EdDSA' | 'RS256' | 'HS256'
  kid: string
  /** For @fastify/jwt: a string secret or a PEM pair. */
  secret: string | { private: string, public: string }
  /** Public keys to publish as a JWK Set (empty for HS256). */
  jwks: { keys: Array<Record<string, unknown>> }
  generated: boolean
}

function fromPrivateKey (pem: string, generated: boolean): SigningKey {
  let key: KeyObject
  try { key = createPrivateKey(pem) } catch { throw new ConfigError('JWT_PRIVATE_KEY is not a readable PEM private key') }
  const pub = createPublicKey(key)
  let algorithm: SigningKey['algorithm']
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') algorithm = 'ES256'
  else if (key.asymmetricKeyType === 'ed25519') algorithm = 'EdDSA'
  else if (key.asymmetricKeyType === 'rsa' && (key.asymmetricKeyDetails?.modulusLength ?? 0) >= 2048) algorithm = 'RS256'
  else throw new ConfigError('JWT_PRIVATE_KEY must be an EC P-256, Ed25519 or RSA (2048 bits or more) key')
  const jwk = pub.export({ format: 'jwk' }) as Record<string, unknown>
  const kid = createHash('sha256').update(pub.export({ format: 'der', type: 'spki' })).digest('base64url').slice(0, 16)
  return {
    algorithm,
    kid,
    secret: { private: key.export({ format: 'pem', type: 'pkcs8' }).toString(), public: pub.export({ format: 'pem', type: 'spki' }).toString() },
    jwks: { keys: [{ ...jwk, kid, alg: algorithm, use: 'sig' }] },
    generated
  }
}

export function loadSigningKey (config: { jwtPrivateKey?: string, jwtSecret?: string, dataDir: string }): SigningKey {
  if (config.jwtPrivateKey !== undefined) return fromPrivateKey(config.jwtPrivateKey.replace(/\\n/g, '\n'), false)
  if (config.jwtSecret !== undefined) {
    return {
      algorithm: 'HS256',
      kid: 'hs-' + createHash('sha256').update(config.jwtSecret).digest('base64url').slice(0, 8),
      secret: config.jwtSecret,
      jwks: { keys: [] },
      generated: false
    }
  }
  const dir = join(config.dataDir, 'keys')
  const file = join(dir, 'signing-key.pem')
  if (!existsSync(file)) {
    mkdirSync(dir, { recursive: true, mode: 0o700 })
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
    // 'wx': if another instance wrote it first, keep theirs.
    try { writeFileSync(file, privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600, flag: 'wx' }) } catch {}
  }
  return fromPrivateKey(readFileSync(file, 'utf8'), true)
}

/** A secret for HMACs (CSRF tokens, refresh-token derivation), derived from the signing key. */
export function loadHmacSecret (signing: SigningKey): Buffer {
  const material = typeof signing.secret === 'string' ? signing.secret : signing.secret.private
  return createHash('sha256').update('auth-service hmac v1\0').update(material).digest()
}
