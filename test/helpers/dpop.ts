// A DPoP client key for tests: proofs made with jose (RFC 9449), and the
// broken proofs an attacker would try, built by hand where jose refuses to.
import { createHash, createHmac, randomUUID } from 'node:crypto'
import { SignJWT, calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK, type CryptoKey } from 'jose'

/** The URL a proof names for an inject() request (Host: localhost:80). */
export const htuOf = (path: string, base = 'http://localhost') => `${base}${path}`

export interface ProofOptions {
  accessToken?: string
  nonce?: string
  /** Seconds; default now. */
  iat?: number
  jti?: string
  htu?: string
  /** Extra or replaced header members. */
  header?: Record<string, unknown>
  claims?: Record<string, unknown>
}

export interface DpopKey {
  alg: 'ES256' | 'EdDSA'
  jwk: JWK
  privateJwk: JWK
  jkt: string
  privateKey: CryptoKey
  proof: (method: string, path: string, opts?: ProofOptions) => Promise<string>
}

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url')

export async function dpopKey (alg: 'ES256' | 'EdDSA' = 'ES256'): Promise<DpopKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true })
  const jwk = await exportJWK(publicKey)
  const privateJwk = await exportJWK(privateKey)
  return {
    alg,
    jwk,
    privateJwk,
    jkt: await calculateJwkThumbprint(jwk),
    privateKey,
    async proof (method, path, opts = {}) {
      const claims: Record<string, unknown> = { htm: method, htu: opts.htu ?? htuOf(path), jti: opts.jti ?? randomUUID(), iat: opts.iat ?? Math.floor(Date.now() / 1000), ...opts.claims }
      if (opts.accessToken !== undefined) claims.ath = createHash('sha256').update(opts.accessToken).digest('base64url')
      if (opts.nonce !== undefined) claims.nonce = opts.nonce
      return await new SignJWT(claims).setProtectedHeader({ typ: 'dpop+jwt', alg, jwk, ...opts.header }).sign(privateKey)
    }
  }
}

/** A proof with `alg: none` and no signature. */
export function unsignedProof (jwk: JWK, method: string, path: string): string {
  return `${b64({ typ: 'dpop+jwt', alg: 'none', jwk })}.${b64({ htm: method, htu: htuOf(path), jti: randomUUID(), iat: Math.floor(Date.now() / 1000) })}.`
}

/** A proof MACed with a shared secret (HS256), its "key" in the header. */
export function hmacProof (method: string, path: string): string {
  const secret = Buffer.from('an attacker-chosen shared secret!')
  const head = `${b64({ typ: 'dpop+jwt', alg: 'HS256', jwk: { kty: 'oct', k: secret.toString('base64url') } })}.${b64({ htm: method, htu: htuOf(path), jti: randomUUID(), iat: Math.floor(Date.now() / 1000) })}`
  return `${head}.${createHmac('sha256', secret).update(head).digest('base64url')}`
}
