// Every PostgreSQL advisory lock the service takes, in one place: the keys
// are one namespace shared by every instance (and every version), so two
// purposes must never share a number.
import type { Prisma } from '../generated/prisma/client.ts'

export const LOCKS = {
  /** Migrations: one instance applies them while the others wait (session lock, db/migrate-worker.ts). */
  migrations: 7_340_220_911,
  /** The set of admins: the last admin cannot be demoted or disabled by two changes at once. */
  adminSet: 7_340_220_912,
  /** Managed signing keys: one instance at a time creates, rotates or revokes them. */
  signingKeys: 7_340_220_913,
  /** The mails to one address (its hourly limit): a 32-bit namespace, the address's hash the second key (lockKeyedForTransaction). */
  mailRecipient: 734_022_091
} as const

/** Holds `key` until the transaction ends (other holders wait). */
export async function lockForTransaction (tx: Prisma.TransactionClient, key: number): Promise<void> {
  await tx.$executeRaw`SELECT pg_advisory_xact_lock(${key}::bigint)`
}

/** Holds the lock (`namespace`, hash of `text`) until the transaction ends: one lock per name (an address) in a 32-bit namespace. */
export async function lockKeyedForTransaction (tx: Prisma.TransactionClient, namespace: number, text: string): Promise<void> {
  await tx.$executeRaw`SELECT pg_advisory_xact_lock(${namespace}::int, hashtext(${text}))`
}
