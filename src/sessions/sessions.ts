// Sessions: a login opens one with its first refresh token, logout ends it,
// its user lists theirs, and a timer prunes what no check needs anymore.
// Refresh tokens are opaque, random and stored only as hashes.
import { createHash, randomBytes, randomUUID } from 'node:crypto'
import type { PrismaClient } from '../generated/prisma/client.ts'
import type { Database, Statement } from '../db/database.ts'
import { InvalidCredentialsError } from '../errors.ts'
import type { AccountUser } from '../accounts/accounts.ts'
import { revocationHorizon, revocationUntil, type RevocationList } from '../services/revocation-list.ts'

/** `dpopJkt`: the thumbprint of the DPoP key the login proved, binding the session to it for life. */
export interface SessionMeta { userAgent?: string, ip?: string, dpopJkt?: string }
/**
 * `grace`: a spent token shown again inside REFRESH_REUSE_GRACE, answered
 * with the session's live token. `amr` and `authTime` (seconds): how and
 * when the session signed in, carried into every access token of it.
 */
/** `endsAt`: the session's absolute end (epoch seconds), which no access token of it outlives. */
export interface Rotation { refreshToken: string, refreshExpiresIn: number, sessionId: string, user: AccountUser, amr: string[], authTime: number, endsAt: number, dpopJkt: string | null, grace?: true }

/** How a session signed in (RFC 8176 values). */
export type Amr = string[]
export type OpenableUser = AccountUser & { passwordHash: string, passwordVersion: number }

export const TOKEN_SHAPE = /^[A-Za-z0-9_-]{43}$/
/** The most sessions a user's list shows (most recently used first). */
export const SESSION_LIST_MAX = 100
const OPEN_ATTEMPTS = 3

export function hashToken (raw: string): string {
  return createHash('sha256').update(raw).digest('base64url')
}

// Login: the session and its first token in one statement, written only if
// the user is still enabled, at the token version the login read, and with
// the password the login checked (no password change or reset since). The
// user's row is locked (FOR SHARE) while it is written, so a user-wide
// revocation (which locks it first: user-revocation.ts) either waits for this
// session and then ends it, or commits first and this writes nothing.
const OPEN: Statement = {
  name: 'session_open_v4',
  text: `WITH u AS (
           SELECT id FROM "User" WHERE id = $2::uuid AND "tokenVersion" = $10::int AND "passwordVersion" = $11::int AND NOT disabled FOR SHARE
         ), opened AS (
           INSERT INTO "Session" (id, "userId", "createdAt", "lastUsedAt", "expiresAt", "userAgent", ip, amr, "authTime", "dpopJkt")
           SELECT $1::uuid, u.id, $3::timestamptz, $3::timestamptz, $4::timestamptz, $5::varchar, $6::varchar, $12::varchar[], $3::timestamptz, $13::varchar FROM u
           RETURNING id
         )
         INSERT INTO "RefreshToken" (id, "sessionId", "tokenHash", "expiresAt", "createdAt")
         SELECT $7::uuid, id, $8::varchar, $9::timestamptz, $3::timestamptz FROM opened
         RETURNING id`
}

export function createSessions (deps: {
  prisma: PrismaClient
  query: Database['query']
  revocations: RevocationList
  refreshTtl: number
  sessionMaxLifetime: number
  /** The user as the database has them now, if the login still stands (same password, enabled). */
  reread: (user: OpenableUser) => Promise<OpenableUser | undefined>
}) {
  const { prisma, query, revocations } = deps

  /** Opens a session for a user who just proved who they are (`amr`: how). */
  async function open (checked: OpenableUser, meta: SessionMeta, amr: Amr = ['pwd']): Promise<Rotation> {
    let user: OpenableUser | undefined = checked
    for (let attempt = 0; attempt < OPEN_ATTEMPTS && user !== undefined; attempt++) {
      const now = Date.now()
      const raw = randomBytes(32).toString('base64url')
      const sessionId = randomUUID()
      const sessionExpiresAt = new Date(now + deps.sessionMaxLifetime * 1000)
      const expiresAt = new Date(Math.min(now + deps.refreshTtl * 1000, sessionExpiresAt.getTime()))
      const written = await query(OPEN, [sessionId, user.id, new Date(now), sessionExpiresAt, meta.userAgent?.slice(0, 512) ?? null, meta.ip?.slice(0, 64) ?? null, randomUUID(), hashToken(raw), expiresAt, user.tokenVersion, user.passwordVersion, amr, meta.dpopJkt ?? null])
      if (written.length === 1) {
        const account: AccountUser = { id: user.id, username: user.username, roles: user.roles, disabled: user.disabled, tokenVersion: user.tokenVersion }
        return { refreshToken: raw, refreshExpiresIn: Math.round((expiresAt.getTime() - now) / 1000), sessionId, user: account, amr, authTime: Math.floor(now / 1000), endsAt: Math.floor(sessionExpiresAt.getTime() / 1000), dpopJkt: meta.dpopJkt ?? null }
      }
      // Revoked, re-roled or disabled while the password was being checked: read the user again.
      user = await deps.reread(user)
    }
    throw new InvalidCredentialsError()
  }

  async function endSession (sessionId: string, reason: string): Promise<boolean> {
    const now = Date.now()
    const { count } = await prisma.session.updateMany({ where: { id: sessionId, revokedAt: null }, data: { revokedAt: new Date(now), revokedReason: reason } })
    // Published even when already revoked: cheap, and it heals a mirror that missed it.
    await revocations.revokeSession(sessionId, revocationUntil(now))
    return count > 0
  }

  /** The session a refresh token belongs to, if it is one of ours, and the DPoP key it is bound to; for logout. */
  async function sessionOf (raw: string): Promise<{ id: string, dpopJkt: string | null } | undefined> {
    if (!TOKEN_SHAPE.test(raw)) return undefined
    const row = await prisma.refreshToken.findUnique({ where: { tokenHash: hashToken(raw) }, select: { session: { select: { id: true, dpopJkt: true } } } })
    return row?.session
  }

  /** The user's sessions that can still refresh: not ended, not past their end, holding an unspent, unexpired token. */
  function listActive (userId: string) {
    const now = new Date()
    return prisma.session.findMany({
      where: { userId, revokedAt: null, expiresAt: { gt: now }, tokens: { some: { usedAt: null, expiresAt: { gt: now } } } },
      orderBy: { lastUsedAt: 'desc' },
      take: SESSION_LIST_MAX
    })
  }

  /**
   * Deletes what no check needs anymore: refresh tokens past their expiry
   * (an expired token is refused whether or not its row exists), and sessions
   * ended or expired longer ago than any revocation must be kept
   * (revocationHorizon: the mirror's durable re-read no longer looks at them).
   */
  async function prune (now = Date.now()): Promise<{ tokens: number, sessions: number }> {
    const horizon = revocationHorizon(now)
    const sessions = await prisma.session.deleteMany({ where: { OR: [{ revokedAt: { lt: horizon } }, { expiresAt: { lt: horizon } }] } })
    const tokens = await prisma.refreshToken.deleteMany({ where: { expiresAt: { lt: new Date(now) } } })
    return { tokens: tokens.count, sessions: sessions.count }
  }

  return { open, endSession, sessionOf, listActive, prune }
}

export type Sessions = ReturnType<typeof createSessions>
