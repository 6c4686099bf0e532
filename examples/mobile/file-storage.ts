// What the mobile-style client keeps between runs, in files only their owner
// can read or write (0600, in a 0700 folder), replaced atomically: the
// refresh token, and the DPoP key pair its session is bound to. A file others
// can read is refused, as ssh refuses a private key with open permissions.
// These files stand in for a phone's Keychain or Keystore; see the README for
// keeping the key there, where it cannot be copied off the device.
import { chmod, mkdir, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises'
import { dirname } from 'node:path'
import type { DpopKeyStore, RefreshTokenStorage } from '../../client/index.ts'

async function readPrivate (path: string): Promise<string | null> {
  try {
    const info = await stat(path)
    if ((info.mode & 0o077) !== 0) throw new Error(`${path} is readable by others (mode ${(info.mode & 0o777).toString(8)}): refusing to use it`)
    const content = (await readFile(path, 'utf8')).trim()
    return content === '' ? null : content
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null
    throw err
  }
}

async function writePrivate (path: string, content: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 })
  const temp = `${path}.${process.pid}.tmp`
  await writeFile(temp, content, { mode: 0o600 })
  await chmod(temp, 0o600) // whatever the umask
  await rename(temp, path)
}

async function remove (path: string): Promise<void> {
  await unlink(path).catch((err) => { if (err.code !== 'ENOENT') throw err })
}

export function fileStorage (path: string): RefreshTokenStorage {
  return {
    get: () => readPrivate(path),
    set: (token) => writePrivate(path, token),
    clear: () => remove(path)
  }
}

/** The DPoP key pair as two JWKs in one owner-only file (so the private key is made extractable). */
export function fileKeyStore (path: string): DpopKeyStore {
  const algorithm = { name: 'ECDSA', namedCurve: 'P-256' }
  return {
    extractable: true,
    async load () {
      const content = await readPrivate(path)
      if (content === null) return null
      const { privateJwk, publicJwk } = JSON.parse(content) as { privateJwk: JsonWebKey, publicJwk: JsonWebKey }
      return {
        privateKey: await crypto.subtle.importKey('jwk', privateJwk, algorithm, false, ['sign']),
        publicKey: await crypto.subtle.importKey('jwk', publicJwk, algorithm, true, ['verify'])
      }
    },
    async save (pair) {
      const [privateJwk, publicJwk] = await Promise.all([crypto.subtle.exportKey('jwk', pair.privateKey), crypto.subtle.exportKey('jwk', pair.publicKey)])
      await writePrivate(path, JSON.stringify({ privateJwk, publicJwk }))
    },
    clear: () => remove(path)
  }
}
