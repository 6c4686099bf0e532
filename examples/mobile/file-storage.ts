// RefreshTokenStorage in a file only its owner can read or write (0600, in a
// 0700 folder), replaced atomically. A file others can read is refused, as ssh
// refuses a private key with open permissions.
import { chmod, mkdir, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises'
import { dirname } from 'node:path'
import type { RefreshTokenStorage } from '../../client/index.ts'

export function fileStorage (path: string): RefreshTokenStorage {
  return {
    async get () {
      try {
        const info = await stat(path)
        if ((info.mode & 0o077) !== 0) throw new Error(`${path} is readable by others (mode ${(info.mode & 0o777).toString(8)}): refusing to use it`)
        const token = (await readFile(path, 'utf8')).trim()
        return token === '' ? null : token
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null
        throw err
      }
    },
    async set (token) {
      await mkdir(dirname(path), { recursive: true, mode: 0o700 })
      const temp = `${path}.${process.pid}.tmp`
      await writeFile(temp, token, { mode: 0o600 })
      await chmod(temp, 0o600) // whatever the umask
      await rename(temp, path)
    },
    async clear () {
      await unlink(path).catch((err) => { if (err.code !== 'ENOENT') throw err })
    }
  }
}
