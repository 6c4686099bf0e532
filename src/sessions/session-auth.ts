// How and when a live session last proved who it is (Session.amr and
// Session.authTime): read by POST /auth/reauthenticate, and moved to now by
// it, so that every later refresh of the session carries the step-up.
import type { SessionStore } from './store.ts'

/** A session that can still be used: not ended, not past its end. */
export interface LiveSession { id: string, userId: string, expiresAt: Date, dpopJkt: string | null }

export function createSessionAuth (deps: { store: SessionStore }) {
  const { store } = deps

  return {
    /** The session if it is the user's and live now. */
    async live (sessionId: string, userId: string, now = Date.now()): Promise<LiveSession | undefined> {
      return await store.live(sessionId, userId, now)
    },

    /** The session signed in again now, with `amr`: false when it ended meanwhile (nothing changes then). */
    async restamp (sessionId: string, userId: string, amr: string[], now = Date.now()): Promise<boolean> {
      return await store.restamp(sessionId, userId, amr, new Date(Math.floor(now / 1000) * 1000), now)
    }
  }
}

export type SessionAuth = ReturnType<typeof createSessionAuth>
