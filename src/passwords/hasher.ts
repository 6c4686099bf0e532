// Password hashing. Hashing and comparison run in a worker pool sized to the
// machine, so a storm of logins slows logins, not the token checks on the
// event loop.
import { createHash } from 'node:crypto'
import { availableParallelism } from 'node:os'
import { extname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Piscina } from 'piscina'
import { normalizePassword } from './policy.ts'

// bcrypt reads only the first 72 bytes: hashing a SHA-256 digest of the whole
// password first means no byte of a long password is ever ignored. Base64
// keeps NUL bytes (which end bcrypt's input) out of the digest.
function prehash (password: string): string {
  return createHash('sha256').update(normalizePassword(password), 'utf8').digest('base64')
}

/** The cost of a bcrypt hash ($2b$12$…), or undefined if it is not one. */
export function bcryptCost (hashed: string): number | undefined {
  const m = /^\$2[abxy]?\$(\d\d)\$/.exec(hashed)
  return m === null ? undefined : Number(m[1])
}

/**
 * bcrypt's work doubles with each step of cost. A comparison against a hash
 * of cost s, followed by one hash at each cost s .. t-1, is exactly the work
 * of one comparison at cost t (2^s + 2^s + … + 2^(t-1) = 2^t): every login
 * costs the same whatever cost the user's hash was made at.
 */
export function padCosts (stored: number, target: number): number[] {
  const out: number[] = []
  for (let k = stored; k < target; k++) out.push(k)
  return out
}

export function createPasswordHasher (opts: { cost: number, workers?: number }) {
  const threads = opts.workers !== undefined && opts.workers > 0 ? opts.workers : Math.max(1, availableParallelism() - 1)
  const pool = new Piscina({
    // This file's sibling, as source (.ts) or as built (.js).
    filename: fileURLToPath(new URL(`./hash-worker${extname(import.meta.url)}`, import.meta.url)),
    minThreads: threads,
    maxThreads: threads,
    idleTimeout: Infinity
  })
  // What every comparison costs: BCRYPT_COST, or more while stored hashes of
  // a higher cost remain (raiseCost): an unknown user costs what the
  // dearest known one does.
  let target = opts.cost
  const dummies = new Map<number, Promise<string>>()
  // bcrypt work done, in units of one round at cost 0 (2^cost per operation): tests compare paths by it.
  let work = 0

  function dummyAt (cost: number): Promise<string> {
    let d = dummies.get(cost)
    if (d === undefined) {
      d = pool.run({ op: 'hash', input: 'not-a-real-password-' + Math.random(), cost, pad: [] }) as Promise<string>
      dummies.set(cost, d)
    }
    return d
  }

  async function hash (password: string): Promise<string> {
    work += 2 ** opts.cost
    return pool.run({ op: 'hash', input: prehash(password), cost: opts.cost, pad: [] }) as Promise<string>
  }

  /** A comparison that costs one at the target cost, whatever the stored hash's cost. */
  async function verify (password: string, hashed: string): Promise<boolean> {
    const cost = bcryptCost(hashed) ?? target
    if (cost > target) target = cost
    const pad = padCosts(cost, target)
    work += 2 ** cost + pad.reduce((sum, k) => sum + 2 ** k, 0)
    return pool.run({ op: 'compare', input: prehash(password), hash: hashed, pad }) as Promise<boolean>
  }

  return {
    hash,
    verify,
    /** One full comparison at the target cost: an unknown user costs what a wrong password costs. */
    async verifyNothing (password: string): Promise<false> {
      const cost = target
      const dummy = await dummyAt(cost)
      work += 2 ** cost
      await pool.run({ op: 'compare', input: prehash(password), hash: dummy, pad: [] })
      return false
    },
    /** Whether a stored hash should be made again at BCRYPT_COST (at the next successful login). */
    needsRehash: (hashed: string) => bcryptCost(hashed) !== opts.cost,
    /** Stored hashes of this cost exist: comparisons cost at least that much from now on. */
    raiseCost (cost: number): void { if (cost > target) target = cost },
    targetCost: () => target,
    /** bcrypt work so far, in 2^cost units. */
    work: () => work,
    /** Warms the dummy hash so that the first unknown-user login costs no more than the others. */
    async warm (): Promise<void> {
      await dummyAt(target)
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
