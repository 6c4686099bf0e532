// Every query of the PasswordReset table, and the transaction of a password
// change. The user's password itself is written by the accounts store (every
// query of User in one file); the rules are in change-and-reset.ts.
import type { Prisma, PrismaClient } from '../generated/prisma/client.ts'

/** A transaction of a password change, or of a user-wide revocation (a reset) that changes the password with it. */
type Tx = Prisma.TransactionClient

export interface PasswordResetRow { tokenHash: string, userId: string, createdAt: Date, expiresAt: Date, usedAt: Date | null }

export function createPasswordStore (deps: { prisma: PrismaClient }) {
  const { prisma } = deps

  return {
    /** Runs `fn` in one transaction: a password change and what ends with it commit together. */
    transaction: <T>(fn: (tx: Tx) => Promise<T>): Promise<T> => prisma.$transaction(fn),

    findReset: (tokenHash: string): Promise<PasswordResetRow | null> => prisma.passwordReset.findUnique({ where: { tokenHash } }),

    /** Every reset token of the user (none is left usable after a change or a new one). */
    async deleteResetsOf (tx: Tx, userId: string): Promise<void> {
      await tx.passwordReset.deleteMany({ where: { userId } })
    },

    async insertReset (tx: Tx, row: { tokenHash: string, userId: string, expiresAt: Date }): Promise<void> {
      await tx.passwordReset.create({ data: row })
    },

    /** Marks a live, unused token used: true for one caller only. */
    async spendReset (tx: Tx, tokenHash: string): Promise<boolean> {
      return (await tx.passwordReset.updateMany({ where: { tokenHash, usedAt: null, expiresAt: { gt: new Date() } }, data: { usedAt: new Date() } })).count === 1
    },

    async pruneResets (before: Date): Promise<number> {
      return (await prisma.passwordReset.deleteMany({ where: { expiresAt: { lt: before } } })).count
    }
  }
}

export type PasswordStore = ReturnType<typeof createPasswordStore>
