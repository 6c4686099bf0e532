// Sessions: a login opens one with its first refresh token, logout ends it,
// its user lists theirs, and a timer prunes what no check needs anymore.
// Refresh tokens are opaque, random and stored only as hashes.
import { createHash, randomBytes, randomUUID } from 'node:crypto'
import type { OpenedBy, SessionStore } from './store.ts'
import { InvalidCredentialsError } from '../errors.ts'
import { isId } from '../db/ids.ts'
import type { AccountUser } from '../accounts/accounts.ts'
import { revocationHorizon, revocationUntil, type RevocationList } from '../revocation/mirror.ts'

/** `dpopJkt`: the thumbprint of the DPoP key the login proved, binding the session to it for life. */
export interface SessionMeta { userAgent?: string, ip?: string, dpopJkt?: string, federation?: Federation }
/** A session opened by a sign-in with a provider: its back-channel logout names `identityId` and `idpSid`. */
export interface Federation { identityId: string, idpSid: string | null }
/**
 * `grace`: a spent token shown again inside REFRESH_REUSE_GRACE, answered
 * with the session's live token. `amr` and `authTime` (seconds): how and
 * when the session signed in, carried into every access token of it.
 * `endsAt`: the session's absolute end (epoch seconds), which no access
 * token of it outlives.
 */
export interface Rotation { refreshToken: string, refreshExpiresIn: number, sessionId: string, user: AccountUser, amr: string[], authTime: number, endsAt: number, dpopJkt: string | null, grace?: true }

/** How a session signed in (RFC 8176 values). */
export type Amr = string[]
export type OpenableUser = AccountUser & { passwordVersion: number }

export const TOKEN_SHAPE = /^[A-Za-z0-9_-]{43}$/
/** The most sessions a user's list shows (most recently used first). */
export const SESSION_LIST_MAX = 100
const OPEN_ATTEMPTS = 3

export function hashToken (raw: string): string {
  return createHash('sha256').update(raw).digest('base64url')
}

export function createSessions (deps: {
  store: SessionStore
  revocations: RevocationList
  refreshTtl: number
  sessionMaxLifetime: number
  /** The user as the database has them now, if the login still stands (same password, enabled). */
  reread: (user: OpenableUser) => Promise<OpenableUser | undefined>
}) {
  const { store, revocations } = deps

  /** Opens a session for a user who just proved who they are (`amr`: how). */
  async function open (checked: OpenableUser, meta: SessionMeta, amr: Amr = ['pwd']): Promise<Rotation> {
    let user: OpenableUser | undefined = checked
    for (let attempt = 0; attempt < OPEN_ATTEMPTS && user !== undefined; attempt++) {
      const now = Date.now()
      const raw = randomBytes(32).toString('base64url')
      const sessionId = randomUUID()
      const sessionExpiresAt = new Date(now + deps.sessionMaxLifetime * 1000)
      const expiresAt = new Date(Math.min(now + deps.refreshTtl * 1000, sessionExpiresAt.getTime()))
      const written = await store.open({
        sessionId,
        userId: user.id,
        now: new Date(now),
        sessionExpiresAt,
        userAgent: meta.userAgent?.slice(0, 512) ?? null,
        ip: meta.ip?.slice(0, 64) ?? null,
        tokenId: randomUUID(),
        tokenHash: hashToken(raw),
        tokenExpiresAt: expiresAt,
        tokenVersion: user.tokenVersion,
        passwordVersion: user.passwordVersion,
        amr,
        dpopJkt: meta.dpopJkt ?? null,
        identityId: meta.federation?.identityId ?? null,
        idpSid: meta.federation?.idpSid?.slice(0, 255) ?? null
      })
      if (written) {
        const account: AccountUser = { id: user.id, username: user.username, roles: user.roles, disabled: user.disabled, tokenVersion: user.tokenVersion, email: user.email, emailVerified: user.emailVerified }
        return { refreshToken: raw, refreshExpiresIn: Math.round((expiresAt.getTime() - now) / 1000), sessionId, user: account, amr, authTime: Math.floor(now / 1000), endsAt: Math.floor(sessionExpiresAt.getTime() / 1000), dpopJkt: meta.dpopJkt ?? null }
      }
      // Revoked, re-roled or disabled while the password was being checked: read the user again.
      user = await deps.reread(user)
    }
    throw new InvalidCredentialsError()
  }

  async function endSession (sessionId: string, reason: string): Promise<boolean> {
    const now = Date.now()
    const ended = await store.end(sessionId, reason, now)
    // Published even when already revoked: cheap, and it heals a mirror that missed it.
    await revocations.revokeSession(sessionId, revocationUntil(now))
    return ended
  }

  /** The session a refresh token belongs to, if it is one of ours, and the DPoP key it is bound to; for logout. */
  async function sessionOf (raw: string): Promise<{ id: string, dpopJkt: string | null } | undefined> {
    if (!TOKEN_SHAPE.test(raw)) return undefined
    return await store.ofToken(hashToken(raw))
  }

  /** The user's sessions that can still refresh: not ended, not past their end, holding an unspent, unexpired token. */
  function listActive (userId: string) {
    return store.listActive(userId, Date.now(), SESSION_LIST_MAX)
  }

  /** Ends a session of this user's; false, as for a made-up id, when it is another user's or already ended. */
  async function endOwn (userId: string, sessionId: string, reason: string): Promise<boolean> {
    if (!isId(sessionId) || !(await store.isOwnOpen(sessionId, userId))) return false
    await endSession(sessionId, reason)
    return true
  }

  /**
   * Deletes what no check needs anymore: refresh tokens past their expiry
   * (an expired token is refused whether or not its row exists), and sessions
   * ended or expired longer ago than any revocation must be kept
   * (revocationHorizon: the mirror's durable re-read no longer looks at them).
   */
  async function prune (now = Date.now()): Promise<{ tokens: number, sessions: number }> {
    return await store.prune(revocationHorizon(now), now)
  }

  /** Ends the sessions an identity opened (of one provider session, or all) on every instance; returns them. */
  async function endOpenedBy (by: OpenedBy, reason: string, except?: string): Promise<string[]> {
    const now = Date.now()
    const ended = await store.endOpenedBy(by, reason, now, except)
    const until = revocationUntil(now)
    await Promise.all(ended.map((sid) => revocations.revokeSession(sid, until)))
    return ended
  }

  return { open, endSession, endOwn, endOpenedBy, sessionOf, listActive, prune }
}

export type Sessions = ReturnType<typeof createSessions>
