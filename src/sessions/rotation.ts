// Refresh-token rotation: one-time tokens (RFC 9700 4.14.2).
//
// A successor token is derived from its predecessor with a server-side HMAC,
// so presenting a spent token inside the grace window (two tabs refreshing at
// once, a retry after a lost response) walks the chain and answers with the
// one live head: every racer ends holding the same working token, and no
// second live head ever exists. After the window, a spent token is theft: the
// session ends.
import { createHmac, randomUUID, type KeyObject } from 'node:crypto'
import type { PrismaClient } from '../generated/prisma/client.ts'
import type { Database, Statement } from '../db/database.ts'
import { ROLES_OF_U, isUniqueViolation } from '../db/sql.ts'
import { DpopProofInvalidError, InvalidRefreshTokenError, RefreshTokenReusedError } from '../errors.ts'
import type { AccountUser } from '../accounts/accounts.ts'
import { hashToken, TOKEN_SHAPE, type Rotation, type Sessions } from './sessions.ts'

/** A lookup that also tried the rotation: `nextExpiresAt` is the successor's expiry if it rotated, null if not. */
interface Rotated extends TokenRow { nextExpiresAt: Date | null }

interface TokenRow {
  id: string
  usedAt: Date | null
  expiresAt: Date
  sessionId: string
  revokedAt: Date | null
  sessionExpiresAt: Date
  userId: string
  username: string
  disabled: boolean
  tokenVersion: number
  roles: string[]
  amr: string[]
  authTime: Date
  dpopJkt: string | null
  dpopBoundAtRefresh: boolean
}

const MAX_CHAIN_WALK = 32

// Token, session, user, its token version and roles in one join: the access
// token issued from it carries one consistent state of the user.
const FIND = `SELECT t.id, t."usedAt", t."expiresAt",
                     s.id AS "sessionId", s."revokedAt", s."expiresAt" AS "sessionExpiresAt", s.amr, s."authTime", s."dpopJkt", s."dpopBoundAtRefresh",
                     u.id AS "userId", u.username, u.disabled, u."tokenVersion",
                     ${ROLES_OF_U} AS roles
                FROM "RefreshToken" t
                JOIN "Session" s ON s.id = t."sessionId"
                JOIN "User" u ON u.id = s."userId"
               WHERE t."tokenHash" = $1`

const LOOKUP: Statement = { name: 'refresh_lookup_v6', text: FIND }

// The lookup again, and the rotation: it spends the token and inserts its
// successor, atomic on its own (one statement, no transaction round trips).
// The validity checks that rotate() makes in code are repeated as the
// condition of the spend, and the `usedAt IS NULL` guard makes it the one
// rotation of that token: a concurrent one (any instance) waits on the row
// lock, then finds it spent and rotates nothing. The row comes back either
// way, with "nextExpiresAt" set only if it rotated. A session bound to a DPoP
// key rotates only with a proof by that key ($6, its thumbprint); an unbound
// one shown a proof is bound to its key from then on, and marked as bound at a
// refresh (its first prover became its owner: see rotate()).
const FIND_AND_ROTATE: Statement = {
  name: 'refresh_rotate_v6',
  text: `WITH found AS (${FIND}),
         spent AS (
           UPDATE "RefreshToken" r SET "usedAt" = $2::timestamptz
             FROM found f
            WHERE r.id = f.id AND r."usedAt" IS NULL AND f."revokedAt" IS NULL AND NOT f.disabled
              AND f."expiresAt" > $2::timestamptz AND f."sessionExpiresAt" > $2::timestamptz
              AND (f."dpopJkt" IS NULL OR f."dpopJkt" = $6::varchar)
           RETURNING r.id, f."sessionId", LEAST($5::timestamptz, f."sessionExpiresAt") AS "nextExpiresAt"
         ), successor AS (
           INSERT INTO "RefreshToken" (id, "sessionId", "tokenHash", "parentId", "expiresAt", "createdAt")
           SELECT $3::uuid, "sessionId", $4::varchar, id, "nextExpiresAt", $2::timestamptz FROM spent
           RETURNING "expiresAt"
         ), touched AS (
           UPDATE "Session" SET "lastUsedAt" = $2::timestamptz, "dpopJkt" = COALESCE("dpopJkt", $6::varchar),
                  "dpopBoundAtRefresh" = "dpopBoundAtRefresh" OR ("dpopJkt" IS NULL AND $6::varchar IS NOT NULL)
            WHERE id = (SELECT "sessionId" FROM spent)
         )
         SELECT found.*, (SELECT "expiresAt" FROM successor) AS "nextExpiresAt" FROM found`
}

export function createRotation (deps: {
  prisma: PrismaClient
  query: Database['query']
  sessions: Sessions
  /** Derives successors; never the signing key, so a key change breaks no session. */
  hmacKey: KeyObject
  refreshTtl: number
  reuseGrace: number
  onReuse?: (info: { sessionId: string, userId: string }) => void
}) {
  const { prisma, query, hmacKey } = deps
  const successorOf = (raw: string) => createHmac('sha256', hmacKey).update('refresh-successor\0').update(raw).digest('base64url')

  // The hot path of refresh is one statement in header mode and two in
  // cookie mode (the CSRF check needs the session before anything changes),
  // sent to the driver as prepared statements.
  async function lookup (raw: string): Promise<TokenRow | null> {
    return (await query<TokenRow>(LOOKUP, [hashToken(raw)]))[0] ?? null
  }

  /** The row and, if the token was live and valid, its rotation to `next`; null when the token is unknown. */
  async function lookupAndRotate (raw: string, next: string, now: number, dpopJkt: string | null): Promise<Rotated | null> {
    const nextExpiry = new Date(now + deps.refreshTtl * 1000)
    try {
      return (await query<Rotated>(FIND_AND_ROTATE, [hashToken(raw), new Date(now), randomUUID(), hashToken(next), nextExpiry, dpopJkt]))[0] ?? null
    } catch (err) {
      // The unique parentId still guards the chain: a second successor can never be inserted.
      if (!isUniqueViolation(err)) throw err
      const row = await lookup(raw)
      return row === null ? null : { ...row, nextExpiresAt: null }
    }
  }

  function usable (row: TokenRow | null, now: number): row is TokenRow {
    return row !== null && row.revokedAt === null && row.sessionExpiresAt.getTime() > now && row.expiresAt.getTime() > now && !row.disabled
  }

  /**
   * `check` runs once the token's session is known and before anything
   * changes (the CSRF binding). `dpopJkt`: the key of the request's DPoP
   * proof, if it has one.
   *
   * A session bound when it opened: a token shown without a proof by its key
   * is refused before reuse detection and ends nothing, so a thief holding
   * only the token can neither use it nor end the owner's session. A session
   * bound at a refresh: whoever proved first became its owner, maybe a thief
   * who had the token, so a spent token after the grace window ends it
   * whatever proof comes with it: binding never escapes reuse detection.
   */
  async function rotate (raw: string, check?: (sessionId: string) => void, dpopJkt: string | null = null): Promise<Rotation> {
    if (!TOKEN_SHAPE.test(raw)) throw new InvalidRefreshTokenError()
    const now = Date.now()
    if (check !== undefined) {
      const found = await lookup(raw)
      if (!usable(found, now)) throw new InvalidRefreshTokenError()
      // A spent token of a session bound at a refresh is judged below, by reuse detection.
      if (!(found.dpopBoundAtRefresh && found.usedAt !== null)) holdsKey(found.dpopJkt, dpopJkt)
      check(found.sessionId)
    }
    const next = successorOf(raw)
    const row = await lookupAndRotate(raw, next, now, dpopJkt)
    if (row === null) throw new InvalidRefreshTokenError()
    if (row.nextExpiresAt === null && row.dpopJkt !== null && !row.dpopBoundAtRefresh) holdsKey(row.dpopJkt, dpopJkt)
    if (!usable(row, now)) throw new InvalidRefreshTokenError()
    const user: AccountUser = { id: row.userId, username: row.username, disabled: row.disabled, tokenVersion: row.tokenVersion, roles: row.roles }
    const endsAt = Math.floor(row.sessionExpiresAt.getTime() / 1000)
    const signIn = { amr: row.amr ?? [], authTime: Math.floor(row.authTime.getTime() / 1000), endsAt }
    if (row.nextExpiresAt !== null) {
      return { refreshToken: next, refreshExpiresIn: Math.round((row.nextExpiresAt.getTime() - now) / 1000), sessionId: row.sessionId, user, ...signIn, dpopJkt: row.dpopJkt ?? dpopJkt }
    }

    // Not rotated: spent before (or just now by a concurrent request). Read the
    // token and its session's binding as they are now, not as the statement saw them.
    const spent = await prisma.refreshToken.findUniqueOrThrow({
      where: { id: row.id },
      select: { usedAt: true, session: { select: { dpopJkt: true, dpopBoundAtRefresh: true } } }
    })
    const inGrace = spent.usedAt !== null && now - spent.usedAt.getTime() <= deps.reuseGrace * 1000
    const bound = spent.session.dpopJkt
    if (spent.usedAt === null || inGrace || !spent.session.dpopBoundAtRefresh) holdsKey(bound, dpopJkt)
    if (spent.usedAt === null) throw new InvalidRefreshTokenError()
    if (inGrace) return walkToHead(raw, row.id, row.sessionId, user, { ...signIn, dpopJkt: bound }, now)
    // Reuse after the grace window: the token was stolen, or the client is broken. End the session.
    await deps.sessions.endSession(row.sessionId, 'refresh-reuse')
    deps.onReuse?.({ sessionId: row.sessionId, userId: user.id })
    throw new RefreshTokenReusedError()
  }

  function holdsKey (bound: string | null, dpopJkt: string | null): void {
    if (bound !== null && bound !== dpopJkt) throw new DpopProofInvalidError(dpopJkt === null ? 'this session is bound to a key: send a proof by it' : 'the proof is signed by another key than the session is bound to')
  }

  async function walkToHead (raw: string, id: string, sessionId: string, user: AccountUser, signIn: { amr: string[], authTime: number, endsAt: number, dpopJkt: string | null }, now: number): Promise<Rotation> {
    let current = raw
    let currentId = id
    for (let i = 0; i < MAX_CHAIN_WALK; i++) {
      const child = await prisma.refreshToken.findUnique({ where: { parentId: currentId } })
      if (child === null) break
      current = successorOf(current)
      if (hashToken(current) !== child.tokenHash) break
      if (child.usedAt === null) {
        return { refreshToken: current, refreshExpiresIn: Math.max(0, Math.round((child.expiresAt.getTime() - now) / 1000)), sessionId, user, ...signIn, grace: true }
      }
      currentId = child.id
    }
    throw new InvalidRefreshTokenError()
  }

  return { rotate }
}

export type RefreshRotation = ReturnType<typeof createRotation>
