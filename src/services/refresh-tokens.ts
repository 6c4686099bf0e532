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
import { createHash, createHmac, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto'
import type { PrismaClient } from '../generated/prisma/client.ts'
import { InvalidRefreshTokenError, RefreshTokenReusedError } from '../errors.ts'
import { userWithRoles, toAccountUser, type AccountUser } from './accounts.ts'
import type { RevocationList } from './revocation-list.ts'

export interface SessionMeta { userAgent?: string, ip?: string }
export interface Rotation { refreshToken: string, refreshExpiresIn: number, sessionId: string, user: AccountUser }

const TOKEN_SHAPE = /^[A-Za-z0-9_-]{43}$/
const MAX_CHAIN_WALK = 32

export function hashToken (raw: string): string {
  return createHash('sha256').update(raw).digest('base64url')
}

export function createRefreshTokens (deps: {
  prisma: PrismaClient
  revocations: RevocationList
  hmacKey: Buffer
  refreshTtl: number
  sessionMaxLifetime: number
  reuseGrace: number
  accessTtl: number
  onReuse?: (info: { sessionId: string, userId: string }) => void
}) {
  const { prisma, revocations, hmacKey } = deps

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
    await prisma.session.create({
      data: {
        id: sessionId,
        userId: user.id,
        expiresAt: sessionExpiresAt,
        userAgent: meta.userAgent?.slice(0, 512),
        ip: meta.ip?.slice(0, 64),
        tokens: { create: { id: randomUUID(), tokenHash: hashToken(raw), expiresAt } }
      }
    })
    return { refreshToken: raw, refreshExpiresIn: Math.round((expiresAt.getTime() - now) / 1000), sessionId, user }
  }

  async function endSession (sessionId: string, reason: string): Promise<boolean> {
    const now = Date.now()
    const { count } = await prisma.session.updateMany({ where: { id: sessionId, revokedAt: null }, data: { revokedAt: new Date(now), revokedReason: reason } })
    // Published even when already revoked: cheap, and it heals a mirror that missed it.
    await revocations.revokeSession(sessionId, revocationUntil(now))
    return count > 0
  }

  function lookup (raw: string) {
    return prisma.refreshToken.findUnique({
      where: { tokenHash: hashToken(raw) },
      include: { session: { include: { user: { include: userWithRoles } } } }
    })
  }

  /** `check` runs once the token's session is known and before anything changes (the CSRF binding). */
  async function rotate (raw: string, check?: (sessionId: string) => void): Promise<Rotation> {
    if (!TOKEN_SHAPE.test(raw)) throw new InvalidRefreshTokenError()
    const row = await lookup(raw)
    if (row === null) throw new InvalidRefreshTokenError()
    const now = Date.now()
    const { session } = row
    if (session.revokedAt !== null || session.expiresAt.getTime() <= now || row.expiresAt.getTime() <= now || session.user.disabled) {
      throw new InvalidRefreshTokenError()
    }
    check?.(session.id)
    const user = toAccountUser(session.user)

    if (row.usedAt === null) {
      const next = successorOf(raw)
      const expiresAt = expiryFor(session.expiresAt, now)
      try {
        // The unique parentId makes this the one rotation of `row`: a
        // concurrent one (any instance) fails here and takes the grace path.
        await prisma.$transaction([
          prisma.refreshToken.create({ data: { id: randomUUID(), sessionId: session.id, tokenHash: hashToken(next), parentId: row.id, expiresAt } }),
          prisma.refreshToken.update({ where: { id: row.id }, data: { usedAt: new Date(now) } }),
          prisma.session.update({ where: { id: session.id }, data: { lastUsedAt: new Date(now) } })
        ])
        return { refreshToken: next, refreshExpiresIn: Math.round((expiresAt.getTime() - now) / 1000), sessionId: session.id, user }
      } catch (err) {
        if ((err as { code?: string }).code !== 'P2002') throw err
      }
    }

    const spent = await prisma.refreshToken.findUniqueOrThrow({ where: { id: row.id } })
    if (spent.usedAt !== null && now - spent.usedAt.getTime() <= deps.reuseGrace * 1000) {
      return walkToHead(raw, row.id, session.id, user, now)
    }
    // Reuse after the grace window: the token was stolen, or the client is broken. End the session.
    await endSession(session.id, 'refresh-reuse')
    deps.onReuse?.({ sessionId: session.id, userId: user.id })
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
