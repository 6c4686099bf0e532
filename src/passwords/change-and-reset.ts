// Passwords over an account's life: the user changes theirs (every other
// session ends at once, the calling one stays), an operator issues a
// one-time reset token (every session ends), and the token sets a new one.
import { randomBytes } from 'node:crypto'
import type { PrismaClient } from '../generated/prisma/client.ts'
import { InvalidCredentialsError, InvalidResetTokenError, NotFoundError, PasswordUnchangedError } from '../errors.ts'
import { checkPassword, type Accounts } from '../accounts/accounts.ts'
import { normalizePassword, type PasswordHasher } from './hasher.ts'
import { revocationUntil, type RevocationList } from '../services/revocation-list.ts'
import { hashToken, TOKEN_SHAPE } from '../sessions/sessions.ts'
import type { UserRevocation } from '../revocation/user-revocation.ts'
import { assertStepUp, hasSecondFactor } from '../mfa/step-up.ts'

export function createPasswordLife (deps: {
  prisma: PrismaClient
  accounts: Accounts
  hasher: PasswordHasher
  revocations: RevocationList
  userRevocation: UserRevocation
  resetTtl: number
}) {
  const { prisma, accounts, hasher } = deps

  return {
    /**
     * Sets a new password for a signed-in user who knows the current one.
     * INVALID_CREDENTIALS for a wrong current password (the route counts it
     * like a failed login); MFA_REQUIRED when the user has a second factor
     * (TOTP or a passkey) and this session did not use one (the step-up rule,
     * without its freshness: the current password is a fresh proof). Returns
     * the sessions it ended.
     */
    async change (userId: string, sessionId: string, amr: string[], current: string, next: string): Promise<string[]> {
      checkPassword(next)
      const user = await accounts.byId(userId)
      if (user === undefined || user.disabled) throw new InvalidCredentialsError()
      assertStepUp({ amr }, user.totp || await hasSecondFactor(prisma, userId), { now: Date.now() })
      if (!await hasher.verify(current, user.passwordHash)) throw new InvalidCredentialsError()
      if (normalizePassword(next) === normalizePassword(current)) throw new PasswordUnchangedError()
      const passwordHash = await hasher.hash(next)
      // The user's row is locked first (as every user-wide change does), so a
      // login that checked the old password either opened its session before
      // (and it is ended here) or finds the password version moved and opens none.
      const ended = await prisma.$transaction(async (tx) => {
        const rows = await tx.$queryRaw<Array<{ id: string }>>`
          UPDATE "User" SET "passwordHash" = ${passwordHash}, "passwordVersion" = "passwordVersion" + 1
           WHERE id = ${userId}::uuid AND "passwordVersion" = ${user.passwordVersion} RETURNING id`
        if (rows.length === 0) return undefined
        const sessions = await tx.$queryRaw<Array<{ id: string }>>`
          UPDATE "Session" SET "revokedAt" = now(), "revokedReason" = 'password-changed'
           WHERE "userId" = ${userId}::uuid AND "revokedAt" IS NULL AND id <> ${sessionId}::uuid RETURNING id`
        await tx.mfaToken.deleteMany({ where: { userId } })
        await tx.passwordReset.deleteMany({ where: { userId } })
        return sessions.map((s) => s.id)
      })
      // Another change of this password won the race: this one changed nothing.
      if (ended === undefined) throw new InvalidCredentialsError()
      const until = revocationUntil(Date.now())
      await Promise.all(ended.map((sid) => deps.revocations.revokeSession(sid, until)))
      return ended
    },

    /** A one-time reset token for the user (replacing any earlier one); every session of the user ends. */
    async issueReset (userId: string): Promise<{ resetToken: string, expiresIn: number }> {
      const raw = randomBytes(32).toString('base64url')
      const found = await deps.userRevocation.revokeAll(userId, {
        endSessions: true,
        reason: 'password-reset',
        change: async (tx) => {
          await tx.passwordReset.deleteMany({ where: { userId } })
          await tx.mfaToken.deleteMany({ where: { userId } })
          await tx.passwordReset.create({ data: { tokenHash: hashToken(raw), userId, expiresAt: new Date(Date.now() + deps.resetTtl * 1000) } })
        }
      })
      if (!found) throw new NotFoundError('No such user')
      return { resetToken: raw, expiresIn: deps.resetTtl }
    },

    /** Spends a reset token and sets the password; every session of the user ends. INVALID_RESET_TOKEN for unknown, spent or expired. */
    async useReset (raw: string, next: string): Promise<string> {
      checkPassword(next)
      if (!TOKEN_SHAPE.test(raw)) throw new InvalidResetTokenError()
      const tokenHash = hashToken(raw)
      // A cheap look first: no bcrypt work for a token that cannot be used.
      const row = await prisma.passwordReset.findUnique({ where: { tokenHash } })
      if (row === null || row.usedAt !== null || row.expiresAt.getTime() <= Date.now()) throw new InvalidResetTokenError()
      const passwordHash = await hasher.hash(next)
      const done = await deps.userRevocation.revokeAll(row.userId, {
        endSessions: true,
        reason: 'password-reset',
        // Spent in the same transaction that sets the password: once, and never half.
        before: async (tx) => (await tx.passwordReset.updateMany({ where: { tokenHash, usedAt: null, expiresAt: { gt: new Date() } }, data: { usedAt: new Date() } })).count === 1,
        change: async (tx) => {
          await tx.$executeRaw`UPDATE "User" SET "passwordHash" = ${passwordHash}, "passwordVersion" = "passwordVersion" + 1 WHERE id = ${row.userId}::uuid`
          await tx.mfaToken.deleteMany({ where: { userId: row.userId } })
        }
      })
      if (!done) throw new InvalidResetTokenError()
      return row.userId
    },

    async prune (now = Date.now()): Promise<number> {
      return (await prisma.passwordReset.deleteMany({ where: { expiresAt: { lt: new Date(now) } } })).count
    }
  }
}

export type PasswordLife = ReturnType<typeof createPasswordLife>
