// The durable record of revocations in PostgreSQL: a user's token version
// (User.tokenVersion, tokensRevokedAt), ended sessions (Session.revokedAt)
// and revoked signing keys (SigningKey.revokedAt). It spans three tables by
// design: every mirror and the revocation feed re-read it from here, so a
// revocation whose push was lost still arrives.
import type { Prisma, PrismaClient } from '../generated/prisma/client.ts'

export function createRevocationStore (deps: { prisma: PrismaClient }) {
  const { prisma } = deps

  return {
    transaction: <T>(fn: (tx: Prisma.TransactionClient) => Promise<T>): Promise<T> => prisma.$transaction(fn),

    /** Adds one to the user's token version (locking the row); undefined when there is no such user. */
    async bumpTokenVersionIn (tx: Prisma.TransactionClient, userId: string): Promise<number | undefined> {
      const rows = await tx.$queryRaw<Array<{ tokenVersion: number }>>`
        UPDATE "User" SET "tokenVersion" = "tokenVersion" + 1, "tokensRevokedAt" = now()
         WHERE id = ${userId}::uuid RETURNING "tokenVersion"`
      return rows[0]?.tokenVersion
    },

    /** What was revoked since `from`: sessions, users' versions, keys. */
    async recordedSince (from: Date) {
      const [sessions, users, keys] = await Promise.all([
        prisma.session.findMany({ where: { revokedAt: { gte: from } }, select: { id: true, revokedAt: true } }),
        prisma.user.findMany({ where: { tokensRevokedAt: { gte: from } }, select: { id: true, tokenVersion: true, tokensRevokedAt: true } }),
        prisma.signingKey.findMany({ where: { revokedAt: { gte: from } }, select: { kid: true, revokedAt: true } })
      ])
      return { sessions, users, keys }
    }
  }
}

export type RevocationStore = ReturnType<typeof createRevocationStore>
