// Sessions and their refresh tokens: login opens a session, refresh rotates
// its token, logout ends it. Tokens are opaque, random, stored only as hashes,
// one-time (RFC 9700 4.14.2).
//
// A successor token is derived from its predecessor with a server-side HMAC,
// so presenting a spent token inside the grace window (two tabs refreshing at
// once, a retry after a lost response) walks the chain and answers with the
// one live head: every racer ends holding the same working token, and no
// second live head ever exists. After the window, a spent token is theft: the
// session ends.
import { createHash, createHmac, createSecretKey, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto'
import type { PrismaClient } from '../generated/prisma/client.ts'
import type { Database, Statement } from '../db/database.ts'
import { InvalidRefreshTokenError, RefreshTokenReusedError } from '../errors.ts'
import { isUniqueViolation, ROLES_OF_U, type AccountUser } from './accounts.ts'
import type { RevocationList } from './revocation-list.ts'

export interface SessionMeta { userAgent?: string, ip?: string }
export interface Rotation { refreshToken: string, refreshExpiresIn: number, sessionId: string, user: AccountUser }

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
  tokensValidAfter: Date | null
  roles: string[]
}

const TOKEN_SHAPE = /^[A-Za-z0-9_-]{43}$/
const MAX_CHAIN_WALK = 32

// Token, session, user and roles in one join.
const FIND = `SELECT t.id, t."usedAt", t."expiresAt",
                     s.id AS "sessionId", s."revokedAt", s."expiresAt" AS "sessionExpiresAt",
                     u.id AS "userId", u.username, u.disabled, u."tokensValidAfter",
                     ${ROLES_OF_U} AS roles
                FROM "RefreshToken" t
                JOIN "Session" s ON s.id = t."sessionId"
                JOIN "User" u ON u.id = s."userId"
               WHERE t."tokenHash" = $1`

const LOOKUP: Statement = { name: 'refresh_lookup_v2', text: FIND }

// The lookup again, and the rotation: it spends the token and inserts its
// successor, atomic on its own (one statement, no transaction round trips).
// The validity checks that rotate() makes in code are repeated as the
// condition of the spend, and the `usedAt IS NULL` guard makes it the one
// rotation of that token: a concurrent one (any instance) waits on the row
// lock, then finds it spent and rotates nothing. The row comes back either
// way, with "nextExpiresAt" set only if it rotated.
const FIND_AND_ROTATE: Statement = {
  name: 'refresh_rotate_v2',
  text: `WITH found AS (${FIND}),
         spent AS (
           UPDATE "RefreshToken" r SET "usedAt" = $2::timestamptz
             FROM found f
            WHERE r.id = f.id AND r."usedAt" IS NULL AND f."revokedAt" IS NULL AND NOT f.disabled
              AND f."expiresAt" > $2::timestamptz AND f."sessionExpiresAt" > $2::timestamptz
           RETURNING r.id, f."sessionId", LEAST($5::timestamptz, f."sessionExpiresAt") AS "nextExpiresAt"
         ), successor AS (
           INSERT INTO "RefreshToken" (id, "sessionId", "tokenHash", "parentId", "expiresAt", "createdAt")
           SELECT $3::uuid, "sessionId", $4::varchar, id, "nextExpiresAt", $2::timestamptz FROM spent
           RETURNING "expiresAt"
         ), touched AS (
           UPDATE "Session" SET "lastUsedAt" = $2::timestamptz WHERE id = (SELECT "sessionId" FROM spent)
         )
         SELECT found.*, (SELECT "expiresAt" FROM successor) AS "nextExpiresAt" FROM found`
}

// Login: the session and its first token in one statement (atomic on its
// own, no transaction round trips), straight to the driver.
const OPEN: Statement = {
  name: 'session_open_v1',
  text: `WITH opened AS (
           INSERT INTO "Session" (id, "userId", "createdAt", "lastUsedAt", "expiresAt", "userAgent", ip)
           VALUES ($1::uuid, $2::uuid, $3::timestamptz, $3::timestamptz, $4::timestamptz, $5::varchar, $6::varchar)
           RETURNING id
         )
         INSERT INTO "RefreshToken" (id, "sessionId", "tokenHash", "expiresAt", "createdAt")
         SELECT $7::uuid, id, $8::varchar, $9::timestamptz, $3::timestamptz FROM opened`
}

export function hashToken (raw: string): string {
  return createHash('sha256').update(raw).digest('base64url')
}

export function createRefreshTokens (deps: {
  prisma: PrismaClient
  query: Database['query']
  revocations: RevocationList
  hmacKey: Buffer
  refreshTtl: number
  sessionMaxLifetime: number
  reuseGrace: number
  accessTtl: number
  onReuse?: (info: { sessionId: string, userId: string }) => void
}) {
  const { prisma, query, revocations } = deps
  const hmacKey = createSecretKey(deps.hmacKey) // imported once, not on every HMAC

  const successorOf = (raw: string) => createHmac('sha256', hmacKey).update('refresh-successor\0').update(raw).digest('base64url')
  const csrfFor = (sessionId: string) => createHmac('sha256', hmacKey).update('csrf\0').update(sessionId).digest('base64url')
  const revocationUntil = (from: number) => from + deps.accessTtl * 1000

  function expiryFor (sessionExpiresAt: Date, now: number): Date {
    return new Date(Math.min(now + deps.refreshTtl * 1000, sessionExpiresAt.getTime()))
  }

  async function open (user: AccountUser, meta: SessionMeta): Promise<Rotation> {
    const now = Date.now()
    const raw = randomBytes(32).toString('base64url')
    const sessionId = randomUUID()
    const sessionExpiresAt = new Date(now + deps.sessionMaxLifetime * 1000)
    const expiresAt = expiryFor(sessionExpiresAt, now)
    await query(OPEN, [sessionId, user.id, new Date(now), sessionExpiresAt, meta.userAgent?.slice(0, 512) ?? null, meta.ip?.slice(0, 64) ?? null, randomUUID(), hashToken(raw), expiresAt])
    return { refreshToken: raw, refreshExpiresIn: Math.round((expiresAt.getTime() - now) / 1000), sessionId, user }
  }

  async function endSession (sessionId: string, reason: string): Promise<boolean> {
    const now = Date.now()
    const { count } = await prisma.session.updateMany({ where: { id: sessionId, revokedAt: null }, data: { revokedAt: new Date(now), revokedReason: reason } })
    // Published even when already revoked: cheap, and it heals a mirror that missed it.
    await revocations.revokeSession(sessionId, revocationUntil(now))
    return count > 0
  }

  // The hot path of refresh is one statement in header mode and two in
  // cookie mode (the CSRF check needs the session before anything changes),
  // sent to the driver as prepared statements.
  async function lookup (raw: string): Promise<TokenRow | null> {
    return (await query<TokenRow>(LOOKUP, [hashToken(raw)]))[0] ?? null
  }

  /** The row and, if the token was live and valid, its rotation to `next`; null when the token is unknown. */
  async function lookupAndRotate (raw: string, next: string, now: number): Promise<Rotated | null> {
    const nextExpiry = new Date(now + deps.refreshTtl * 1000)
    try {
      return (await query<Rotated>(FIND_AND_ROTATE, [hashToken(raw), new Date(now), randomUUID(), hashToken(next), nextExpiry]))[0] ?? null
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

  /** `check` runs once the token's session is known and before anything changes (the CSRF binding). */
  async function rotate (raw: string, check?: (sessionId: string) => void): Promise<Rotation> {
    if (!TOKEN_SHAPE.test(raw)) throw new InvalidRefreshTokenError()
    const now = Date.now()
    if (check !== undefined) {
      const found = await lookup(raw)
      if (!usable(found, now)) throw new InvalidRefreshTokenError()
      check(found.sessionId)
    }
    const next = successorOf(raw)
    const row = await lookupAndRotate(raw, next, now)
    if (!usable(row, now)) throw new InvalidRefreshTokenError()
    const user: AccountUser = { id: row.userId, username: row.username, disabled: row.disabled, tokensValidAfter: row.tokensValidAfter, roles: row.roles }
    if (row.nextExpiresAt !== null) {
      return { refreshToken: next, refreshExpiresIn: Math.round((row.nextExpiresAt.getTime() - now) / 1000), sessionId: row.sessionId, user }
    }

    const spent = await prisma.refreshToken.findUniqueOrThrow({ where: { id: row.id } })
    if (spent.usedAt !== null && now - spent.usedAt.getTime() <= deps.reuseGrace * 1000) {
      return walkToHead(raw, row.id, row.sessionId, user, now)
    }
    // Reuse after the grace window: the token was stolen, or the client is broken. End the session.
    await endSession(row.sessionId, 'refresh-reuse')
    deps.onReuse?.({ sessionId: row.sessionId, userId: user.id })
    throw new RefreshTokenReusedError()
  }

  async function walkToHead (raw: string, id: string, sessionId: string, user: AccountUser, now: number): Promise<Rotation> {
    let current = raw
    let currentId = id
    for (let i = 0; i < MAX_CHAIN_WALK; i++) {
      const child = await prisma.refreshToken.findUnique({ where: { parentId: currentId } })
      if (child === null) break
      current = successorOf(current)
      if (hashToken(current) !== child.tokenHash) break
      if (child.usedAt === null) {
        return { refreshToken: current, refreshExpiresIn: Math.max(0, Math.round((child.expiresAt.getTime() - now) / 1000)), sessionId, user }
      }
      currentId = child.id
    }
    throw new InvalidRefreshTokenError()
  }

  /** The session a refresh token belongs to, if it is one of ours; for logout. */
  async function sessionOf (raw: string): Promise<string | undefined> {
    if (!TOKEN_SHAPE.test(raw)) return undefined
    const row = await prisma.refreshToken.findUnique({ where: { tokenHash: hashToken(raw) }, select: { sessionId: true } })
    return row?.sessionId
  }

  function csrfMatches (sessionId: string, presented: string): boolean {
    const expected = Buffer.from(csrfFor(sessionId))
    const given = Buffer.from(presented)
    return given.length === expected.length && timingSafeEqual(given, expected)
  }

  return { open, rotate, endSession, sessionOf, csrfFor, csrfMatches }
}

export type RefreshTokens = ReturnType<typeof createRefreshTokens>
