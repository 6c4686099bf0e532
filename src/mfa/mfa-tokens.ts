// The second step of a password login for a user with TOTP: the password
// step answers with an `mfa_token` (random, stored only as a hash, 300 s,
// one use) instead of a session. Taking the token is atomic, so two
// requests racing with one token cannot both sign in; a wrong code gives
// it back for another try (the per-account limit on wrong codes bounds them).
import { randomBytes } from 'node:crypto'
import type { PrismaClient } from '../generated/prisma/client.ts'
import { MfaTokenInvalidError } from '../errors.ts'
import { hashToken, TOKEN_SHAPE } from '../sessions/sessions.ts'

export const MFA_TOKEN_TTL = 300

export interface TakenMfaToken { tokenHash: string, userId: string, passwordVersion: number }

export function createMfaTokens (deps: { prisma: PrismaClient, ttl?: number }) {
  const { prisma } = deps
  const ttl = deps.ttl ?? MFA_TOKEN_TTL

  return {
    ttl,
    async issue (userId: string, passwordVersion: number): Promise<string> {
      const raw = randomBytes(32).toString('base64url')
      await prisma.mfaToken.create({ data: { tokenHash: hashToken(raw), userId, passwordVersion, expiresAt: new Date(Date.now() + ttl * 1000) } })
      return raw
    },

    /** Takes the token for this attempt, or throws MFA_TOKEN_INVALID (unknown, spent, expired, or taken by a concurrent attempt). */
    async take (raw: string): Promise<TakenMfaToken> {
      if (typeof raw !== 'string' || !TOKEN_SHAPE.test(raw)) throw new MfaTokenInvalidError()
      const tokenHash = hashToken(raw)
      const now = new Date()
      const { count } = await prisma.mfaToken.updateMany({ where: { tokenHash, usedAt: null, expiresAt: { gt: now } }, data: { usedAt: now } })
      if (count !== 1) throw new MfaTokenInvalidError()
      const row = await prisma.mfaToken.findUniqueOrThrow({ where: { tokenHash }, select: { userId: true, passwordVersion: true } })
      return { tokenHash, ...row }
    },

    /** A wrong code: the token may be tried again until it expires. */
    async giveBack (taken: TakenMfaToken): Promise<void> {
      await prisma.mfaToken.updateMany({ where: { tokenHash: taken.tokenHash }, data: { usedAt: null } })
    },

    /** Every pending second step of the user ends (password changed or reset). */
    async endAll (userId: string): Promise<void> {
      await prisma.mfaToken.deleteMany({ where: { userId } })
    },

    async prune (now = Date.now()): Promise<number> {
      return (await prisma.mfaToken.deleteMany({ where: { expiresAt: { lt: new Date(now) } } })).count
    }
  }
}

export type MfaTokens = ReturnType<typeof createMfaTokens>
