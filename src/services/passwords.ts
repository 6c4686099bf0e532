// Password rules (NIST SP 800-63B) and hashing. Hashing and comparison run in a
// worker pool sized to the machine, so a storm of logins slows logins, not the
// token checks on the event loop.
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { extname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Piscina } from 'piscina'

const commonPasswords = new Set(
  readFileSync(fileURLToPath(new URL('../../data/common-passwords.txt', import.meta.url)), 'utf8')
    .split('\n').filter(Boolean).map((p) => p.toLowerCase())
)

export const PASSWORD_MIN = 8
export const PASSWORD_MAX = 256

/** NFKC so that one password typed on two keyboards is one password (SP 800-63B 5.1.1.2). */
export function normalizePassword (password: string): string {
  return password.normalize('NFKC')
}

/** Length in characters (code points), as a user counts them. */
export function passwordLength (password: string): number {
  return Array.from(password).length
}

export function isCommonPassword (password: string): boolean {
  return commonPasswords.has(normalizePassword(password).toLowerCase())
}

// bcrypt reads only the first 72 bytes: hashing a SHA-256 digest of the whole
// password first means no byte of a long password is ever ignored. Base64
// keeps NUL bytes (which end bcrypt's input) out of the digest.
function prehash (password: string): string {
  return createHash('sha256').update(normalizePassword(password), 'utf8').digest('base64')
}

export function createPasswordHasher (opts: { cost: number, workers?: number }) {
  const threads = opts.workers !== undefined && opts.workers > 0 ? opts.workers : Math.max(1, availableParallelism() - 1)
  const pool = new Piscina({
    // This file's sibling, as source (.ts) or as built (.js).
    filename: fileURLToPath(new URL(`./password-worker${extname(import.meta.url)}`, import.meta.url)),
    minThreads: threads,
    maxThreads: threads,
    idleTimeout: Infinity
  })
  let dummy: Promise<string> | undefined

  async function hash (password: string): Promise<string> {
    return pool.run({ op: 'hash', input: prehash(password), cost: opts.cost }) as Promise<string>
  }

  async function verify (password: string, hashed: string): Promise<boolean> {
    return pool.run({ op: 'compare', input: prehash(password), hash: hashed }) as Promise<boolean>
  }

  return {
    hash,
    verify,
    /** One full comparison against a hash of the same cost: an unknown user costs what a wrong password costs. */
    async verifyNothing (password: string): Promise<false> {
      dummy ??= hash('not-a-real-password-' + Math.random())
      await verify(password, await dummy)
      return false
    },
    /** Warms the dummy hash so that the first unknown-user login costs no more than the others. */
    async warm (): Promise<void> {
      dummy ??= hash('not-a-real-password-' + Math.random())
      await dummy
    },
    threads,
    /** Queue length, and the run time of hashes and comparisons (ms), for metrics. */
    stats: () => {
      const run = pool.histogram.runTime
      return { queued: pool.queueSize, p50: run.p50, p99: run.p99 }
    },
    /** The worker thread that would run a task: proves the work leaves the main thread. */
    workerThreadId: () => pool.run({ op: 'thread' }) as Promise<number>,
    /** The worker's nice value (19 on Linux: the event loop wins any contended core). */
    workerNiceness: () => pool.run({ op: 'niceness' }) as Promise<number>,
    close: () => pool.destroy()
  }
}

export type PasswordHasher = ReturnType<typeof createPasswordHasher>
