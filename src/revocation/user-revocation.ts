// Ends every access token of a user at once (logout-all, role change,
// disable): one transaction adds one to the user's token version (and makes
// the change that calls for it), then the new minimum is pushed to every
// mirror. Exact by construction, whatever the timing:
// - logins and refreshes read the version in the same statement as the
//   roles, `disabled` and the session's state, and put it in the token, so a
//   token carries the state it was made from;
// - opening a session locks the user's row and checks the version it read
//   (sessions.ts): a login that read the user before a revocation and writes
//   after it finds the version moved and reads the user again;
// - this transaction takes that lock first, so the sessions it ends include
//   one being opened concurrently.
import type { Prisma } from '../generated/prisma/client.ts'
import type { RevocationEntry, RevocationList } from './mirror.ts'
import { revocationHorizon, revocationUntil } from './mirror.ts'
import type { RevocationStore } from './store.ts'
import type { SessionStore } from '../sessions/store.ts'
import type { EventInput, Events } from '../events/recorder.ts'

type Tx = Prisma.TransactionClient

export interface RevokeAllOptions {
  endSessions: boolean
  reason: string
  /** Runs inside the transaction before the user's row is locked; false: nothing happens (revokeAll answers false). */
  before?: (tx: Tx) => Promise<boolean>
  /** Runs inside the transaction, once the user's row is locked and before sessions end. */
  change?: (tx: Tx) => Promise<void>
  /** The security event of the change, stored in its transaction (the user is the one revoked). */
  event?: Omit<EventInput, 'userId'>
}

export type { Tx }

export function createUserRevocation (deps: { store: RevocationStore, sessions: Pick<SessionStore, 'endAllIn'>, revocations: RevocationList, events?: Pick<Events, 'recordIn'> }) {
  const { store, sessions, revocations } = deps

  return {
    /**
     * Ends the user's access tokens (and with `endSessions` their sessions),
     * committed together with `change`: never new roles with old tokens valid.
     * Returns false when there is no such user (or `before` said no). A failed push (503) leaves the
     * database right; every mirror re-reads it within seconds.
     */
    async revokeAll (userId: string, opts: RevokeAllOptions): Promise<boolean> {
      const version = await store.transaction(async (tx) => {
        if (opts.before !== undefined && !await opts.before(tx)) return undefined
        const bumped = await store.bumpTokenVersionIn(tx, userId)
        if (bumped === undefined) return undefined
        await opts.change?.(tx)
        if (opts.endSessions) await sessions.endAllIn(tx, userId, opts.reason)
        if (opts.event !== undefined) await deps.events?.recordIn(tx, { ...opts.event, userId })
        return bumped
      })
      if (version === undefined) return false
      await revocations.revokeUserBelow(userId, version, revocationUntil(Date.now()))
      return true
    }
  }
}

export type UserRevocation = ReturnType<typeof createUserRevocation>

/** The revocations PostgreSQL recorded since `since` (at most as far back as any can still matter). */
export async function loadDurableRevocations (store: Pick<RevocationStore, 'recordedSince'>, since?: Date): Promise<RevocationEntry[]> {
  const horizon = revocationHorizon()
  const from = since === undefined || since < horizon ? horizon : since
  const { sessions, users, keys } = await store.recordedSince(from)
  return [
    ...keys.map((k) => ({ kind: 'key' as const, id: k.kid, until: revocationUntil((k.revokedAt as Date).getTime()) })),
    ...sessions.map((s) => ({ kind: 'session' as const, id: s.id, until: revocationUntil((s.revokedAt as Date).getTime()) })),
    ...users.map((u) => ({ kind: 'user' as const, id: u.id, version: u.tokenVersion, until: revocationUntil((u.tokensRevokedAt as Date).getTime()) }))
  ]
}
