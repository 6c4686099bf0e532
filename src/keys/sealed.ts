// Secrets at rest (signing keys, TOTP secrets): AES-256-GCM, with what the
// secret belongs to as associated data, so a sealed value copied onto
// another row does not open.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'

// The full 128-bit tag, pinned both ways: left open, a decipher accepts a
// truncated tag (down to 4 bytes), which a forger can guess far sooner.
const TAG_BYTES = 16

/** iv.tag.ciphertext, base64url. */
export function seal (key: Buffer, aad: string, data: Buffer): string {
  const iv = randomBytes(12)
  const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES })
  cipher.setAAD(Buffer.from(aad))
  const body = Buffer.concat([cipher.update(data), cipher.final()])
  return [iv, cipher.getAuthTag(), body].map((b) => b.toString('base64url')).join('.')
}

/** The data, or undefined when the key or the associated data is not the one it was sealed with. */
export function unseal (key: Buffer, aad: string, sealed: string): Buffer | undefined {
  try {
    const [iv, tag, body] = sealed.split('.').map((p) => Buffer.from(p, 'base64url'))
    if (tag.length !== TAG_BYTES) return undefined
    const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES })
    decipher.setAAD(Buffer.from(aad))
    decipher.setAuthTag(tag)
    return Buffer.concat([decipher.update(body), decipher.final()])
  } catch {
    return undefined
  }
}
