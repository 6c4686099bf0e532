// Ends every access token of a user at once (logout-all, role change, disable):
// a durable cut-off in PostgreSQL plus one entry pushed to every mirror.
import type { PrismaClient } from '../generated/prisma/client.ts'
import type { RevocationList } from './revocation-list.ts'

export function createUserRevocation (deps: { prisma: PrismaClient, revocations: RevocationList, accessTtl: number }) {
  const { prisma, revocations } = deps

  /** Tokens are issued with iat in whole seconds: rounding the cut-off up refuses every token issued up to now. */
  function cutoffNow (): number {
    return Math.ceil(Date.now() / 1000) * 1000
  }

  return {
    /** Ends the user's access tokens; with `endSessions`, their refresh tokens too. */
    async revokeAll (userId: string, opts: { endSessions: boolean, reason: string }): Promise<void> {
      const now = new Date()
      const cutoff = cutoffNow()
      await prisma.$transaction([
        ...(opts.endSessions ? [prisma.session.updateMany({ where: { userId, revokedAt: null }, data: { revokedAt: now, revokedReason: opts.reason } })] : []),
        prisma.user.update({ where: { id: userId }, data: { tokensValidAfter: new Date(cutoff) } })
      ])
      await revocations.revokeUserTokens(userId, cutoff, cutoff + deps.accessTtl * 1000)
    },
    /** The earliest iat (seconds) a new token of this user may carry. */
    notBefore (user: { id: string, tokensValidAfter: Date | null }): number {
      const stored = user.tokensValidAfter?.getTime() ?? 0
      return Math.ceil(Math.max(stored, revocations.userCutoff(user.id) ?? 0) / 1000)
    }
  }
}

export type UserRevocation = ReturnType<typeof createUserRevocation>
