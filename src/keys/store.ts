// Every query of the SigningKey table: the managed keys, read, and created,
// rotated and revoked under one advisory lock (db/locks.ts). What a key's
// state is at a given time is signing-keys.ts's.
import type { PrismaClient } from '../generated/prisma/client.ts'
import { LOCKS, lockForTransaction } from '../db/locks.ts'
import { decryptPrivateKey, generateKeyRow, keyStates, type KeyRow } from './signing-keys.ts'

type Tx = Parameters<Parameters<PrismaClient['$transaction']>[0]>[0]
/** What goes with a change of the keys, in its transaction (its security event): the key's kid. */
export type WithKeyChange = (tx: Tx, kid: string) => Promise<void>

export interface KeyStoreOptions {
  prisma: PrismaClient
  kek: Buffer
  alg: 'ES256' | 'EdDSA'
  rotationIntervalMs: number
  jwksMaxAgeMs: number
  retireAfterMs: number
}

/** The database side of managed keys: read them, and create or revoke under one lock. */
export function createKeyStore (opts: KeyStoreOptions) {
  const { prisma } = opts

  // Serialises key creation across instances: three instances starting at
  // once on an empty database make one key, not three.
  async function locked<T> (fn: (rows: KeyRow[], tx: Parameters<Parameters<PrismaClient['$transaction']>[0]>[0]) => Promise<T>): Promise<T> {
    return prisma.$transaction(async (tx) => {
      await lockForTransaction(tx, LOCKS.signingKeys)
      const rows = await tx.signingKey.findMany() as KeyRow[]
      // Never add a key that the other instances could not open: a process
      // with another KEY_ENCRYPTION_SECRET stops here, with a sentence.
      const sample = rows.find((r) => r.revokedAt === null)
      if (sample !== undefined) decryptPrivateKey(opts.kek, sample.kid, sample.privateKey)
      return fn(rows, tx)
    }, { timeout: 15_000 })
  }

  function insert (tx: Parameters<Parameters<PrismaClient['$transaction']>[0]>[0], signsFrom: Date, now: Date): Promise<KeyRow> {
    const row = generateKeyRow(opts.alg, opts.kek, now, signsFrom)
    return tx.signingKey.create({ data: { ...row, publicJwk: row.publicJwk as object } }) as Promise<KeyRow>
  }

  return {
    load: async (): Promise<KeyRow[]> => await prisma.signingKey.findMany() as KeyRow[],
    /**
     * Makes sure a key signs now and that the next one is published a
     * JWKS_MAX_AGE before the current one has signed for KEY_ROTATION_INTERVAL.
     * Returns the keys it created.
     */
    ensure: () => locked(async (rows, tx) => {
      const now = Date.now()
      const states = keyStates(rows, now, opts.retireAfterMs)
      const created: KeyRow[] = []
      let current = rows.find((r) => states.get(r.kid)?.state === 'current')
      if (current === undefined && !rows.some((r) => states.get(r.kid)?.state === 'next')) {
        // The first key (or every key revoked): it signs at once, nothing can have cached a key set without it.
        current = await insert(tx, new Date(now), new Date(now))
        created.push(current)
      }
      const hasNext = rows.some((r) => states.get(r.kid)?.state === 'next')
      if (current !== undefined && !hasNext && current.signsFrom.getTime() + opts.rotationIntervalMs - opts.jwksMaxAgeMs <= now) {
        created.push(await insert(tx, new Date(Math.max(now + opts.jwksMaxAgeMs, current.signsFrom.getTime() + opts.rotationIntervalMs)), new Date(now)))
      }
      return created
    }),
    /** On demand: the next key, published now, signing JWKS_MAX_AGE from now (an existing next key is returned as it is). */
    rotate: (withIt?: WithKeyChange) => locked(async (rows, tx) => {
      const now = Date.now()
      const states = keyStates(rows, now, opts.retireAfterMs)
      const pending = rows.find((r) => states.get(r.kid)?.state === 'next')
      const next = pending ?? await insert(tx, new Date(now + opts.jwksMaxAgeMs), new Date(now))
      await withIt?.(tx, next.kid)
      return next
    }),
    /** Emergency: the key stops verifying at once; if it was signing, a new key signs at once. */
    revoke: (kid: string, withIt?: WithKeyChange) => locked(async (rows, tx) => {
      const now = Date.now()
      const row = rows.find((r) => r.kid === kid)
      if (row === undefined) return undefined
      const wasCurrent = keyStates(rows, now, opts.retireAfterMs).get(kid)?.state === 'current'
      if (row.revokedAt === null) await tx.signingKey.update({ where: { kid }, data: { revokedAt: new Date(now) } })
      const replacement = wasCurrent ? await insert(tx, new Date(now), new Date(now)) : undefined
      await withIt?.(tx, kid)
      return { revoked: { ...row, revokedAt: row.revokedAt ?? new Date(now) }, replacement }
    }),
    /** Deletes keys retired longer ago than any token they signed can live. */
    async prune (): Promise<number> {
      const rows = await prisma.signingKey.findMany() as KeyRow[]
      const now = Date.now()
      const states = keyStates(rows, now, opts.retireAfterMs)
      const gone = rows.filter((r) => states.get(r.kid)?.state === 'retired' && (states.get(r.kid)?.retiresAt?.getTime() ?? now) < now - opts.retireAfterMs).map((r) => r.kid)
      if (gone.length === 0) return 0
      return (await prisma.signingKey.deleteMany({ where: { kid: { in: gone } } })).count
    }
  }
}

export type KeyStore = ReturnType<typeof createKeyStore>
