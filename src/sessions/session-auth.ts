// How and when a live session last proved who it is (Session.amr and
// Session.authTime): read by POST /auth/reauthenticate, and moved to now by
// it, so that every later refresh of the session carries the step-up.
import type { PrismaClient } from '../generated/prisma/client.ts'

/** A session that can still be used: not ended, not past its end. */
export interface LiveSession { id: string, userId: string, expiresAt: Date, dpopJkt: string | null }

export function createSessionAuth (deps: { prisma: PrismaClient }) {
  const { prisma } = deps

  return {
    /** The session if it is the user's and live now. */
    async live (sessionId: string, userId: string, now = Date.now()): Promise<LiveSession | undefined> {
      const row = await prisma.session.findFirst({
        where: { id: sessionId, userId, revokedAt: null, expiresAt: { gt: new Date(now) } },
        select: { id: true, userId: true, expiresAt: true, dpopJkt: true }
      })
      return row ?? undefined
    },

    /** The session signed in again now, with `amr`: false when it ended meanwhile (nothing changes then). */
    async restamp (sessionId: string, userId: string, amr: string[], now = Date.now()): Promise<boolean> {
      const { count } = await prisma.session.updateMany({
        where: { id: sessionId, userId, revokedAt: null, expiresAt: { gt: new Date(now) } },
        data: { amr, authTime: new Date(Math.floor(now / 1000) * 1000) }
      })
      return count === 1
    }
  }
}

export type SessionAuth = ReturnType<typeof createSessionAuth>
