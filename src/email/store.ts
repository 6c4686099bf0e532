// Every query of the email domain: the EmailToken and MailOutbox tables, and
// the email columns of User (only this domain writes them; the login's read
// by verified address is the accounts store's). The rules are in flows.ts,
// login-codes.ts and sender.ts.
import type { Prisma, PrismaClient } from '../generated/prisma/client.ts'
import { LOCKS, lockKeyedForTransaction } from '../db/locks.ts'

type Tx = Prisma.TransactionClient

export type TokenKind = 'verify' | 'login'

/** A user as the email flows see them. */
export interface MailableUser { id: string, username: string, email: string | null, emailVerified: boolean, disabled: boolean }

/** A mail claimed for one attempt: `attempts` counts this one. */
export interface ClaimedMail { id: bigint, recipient: string, template: string, sealed: string | null, attempts: number, createdAt: Date }

const ROLLBACK = Symbol('rollback')

const mailable = { id: true, username: true, email: true, emailVerified: true, disabled: true } as const

export function createEmailStore (deps: { prisma: PrismaClient }) {
  const { prisma } = deps

  return {
    /** A token and the mail that carries it commit together, or neither does. */
    transaction: <T>(fn: (tx: Tx) => Promise<T>): Promise<T> => prisma.$transaction(fn),

    /** Runs `fn` in a transaction that is then rolled back: a real change's statements and cost, none of it kept. */
    async rehearse (fn: (tx: Tx) => Promise<unknown>): Promise<void> {
      try {
        await prisma.$transaction(async (tx) => { await fn(tx); throw ROLLBACK })
      } catch (err) {
        if (err !== ROLLBACK) throw err
      }
    },

    // Users

    userById: (id: string): Promise<MailableUser | null> => prisma.user.findUnique({ where: { id }, select: mailable }),
    userByName: (usernameKey: string): Promise<MailableUser | null> => prisma.user.findUnique({ where: { usernameKey }, select: mailable }),
    userByVerifiedAddress: (key: string): Promise<MailableUser | null> => prisma.user.findUnique({ where: { verifiedEmailKey: key }, select: mailable }),
    userByVerifiedAddressIn: (tx: Tx, key: string): Promise<MailableUser | null> => tx.user.findUnique({ where: { verifiedEmailKey: key }, select: mailable }),

    /** An address given at registration, not verified yet. */
    async setUnverified (tx: Tx, id: string, email: string): Promise<void> {
      await tx.user.update({ where: { id }, data: { email, emailVerified: false, verifiedEmailKey: null } })
    },

    /** The user's verified address now; throws a unique violation when another account verified it. Returns the address it replaced, if verified. */
    async setVerified (tx: Tx, id: string, email: string, key: string): Promise<{ previous: string | null, username: string } | null> {
      const before = await tx.user.findUnique({ where: { id }, select: { email: true, emailVerified: true, username: true } })
      if (before === null) return null
      await tx.user.update({ where: { id }, data: { email, emailVerified: true, verifiedEmailKey: key } })
      return { previous: before.emailVerified ? before.email : null, username: before.username }
    },

    // Tokens

    async insertToken (tx: Tx, row: { id: string, userId: string, kind: TokenKind, tokenHash: string, email: string, expiresAt: Date }): Promise<void> {
      await tx.emailToken.create({ data: row })
    },

    /** The user's tokens of this kind (a new one replaces them). */
    async deleteTokensOf (tx: Tx, userId: string, kind: TokenKind): Promise<void> {
      await tx.emailToken.deleteMany({ where: { userId, kind } })
    },

    /** Spends a live verification token: its user and address, for one caller only. */
    async spendVerifyToken (tx: Tx, tokenHash: string): Promise<{ userId: string, email: string } | undefined> {
      const rows = await tx.$queryRaw<Array<{ userId: string, email: string }>>`
        UPDATE "EmailToken" SET "usedAt" = now()
         WHERE id = (SELECT id FROM "EmailToken" WHERE "tokenHash" = ${tokenHash} AND kind = 'verify' AND "usedAt" IS NULL AND "expiresAt" > now() LIMIT 1 FOR UPDATE)
           AND "usedAt" IS NULL RETURNING "userId"::text AS "userId", email`
      return rows[0]
    },

    /** Spends the user's live login code if it is this one and has had fewer than `maxAttempts` wrong tries. */
    async spendLoginCode (userId: string, tokenHash: string, maxAttempts: number): Promise<boolean> {
      return (await prisma.emailToken.updateMany({
        where: { userId, kind: 'login', tokenHash, usedAt: null, expiresAt: { gt: new Date() }, attempts: { lt: maxAttempts } },
        data: { usedAt: new Date() }
      })).count === 1
    },

    /** A wrong code: counted on the user's live codes. */
    async countWrongCode (userId: string): Promise<void> {
      await prisma.emailToken.updateMany({ where: { userId, kind: 'login', usedAt: null }, data: { attempts: { increment: 1 } } })
    },

    async pruneTokens (before: Date): Promise<number> {
      return (await prisma.emailToken.deleteMany({ where: { expiresAt: { lt: before } } })).count
    },

    // The outbox

    /** Serialises the mails to one address (its hourly count), across instances, until the transaction ends. */
    lockRecipient: (tx: Tx, recipient: string): Promise<void> => lockKeyedForTransaction(tx, LOCKS.mailRecipient, recipient),

    countSince: (tx: Tx, recipient: string, since: Date): Promise<number> => tx.mailOutbox.count({ where: { recipient, createdAt: { gt: since } } }),

    async insertMail (tx: Tx, row: { recipient: string, template: string, sealed: string }): Promise<void> {
      await tx.mailOutbox.create({ data: row })
    },

    /**
     * Claims up to `limit` due mails for one attempt each: their next attempt
     * moves `leaseMs` ahead, so no other instance takes them meanwhile, and
     * SKIP LOCKED lets two senders claim at once without taking the same row.
     */
    claim: (limit: number, leaseMs: number): Promise<ClaimedMail[]> => prisma.$queryRaw<ClaimedMail[]>`
      UPDATE "MailOutbox" m SET attempts = m.attempts + 1, "nextAttemptAt" = now() + ${leaseMs} * interval '1 millisecond'
       WHERE m.id IN (SELECT id FROM "MailOutbox" WHERE "sentAt" IS NULL AND "failedAt" IS NULL AND "nextAttemptAt" <= now()
                       ORDER BY "nextAttemptAt", id LIMIT ${limit} FOR UPDATE SKIP LOCKED)
       RETURNING m.id, m.recipient, m.template, m.sealed, m.attempts, m."createdAt"`,

    /** Sent: the sealed body (a link or a code) is cleared; only the envelope stays. Only the claim of this attempt may mark it. */
    async markSent (id: bigint, attempts: number): Promise<void> {
      await prisma.mailOutbox.updateMany({ where: { id, attempts }, data: { sentAt: new Date(), sealed: null, lastError: null } })
    },

    async markRetry (id: bigint, attempts: number, next: Date, error: string): Promise<void> {
      await prisma.mailOutbox.updateMany({ where: { id, attempts }, data: { nextAttemptAt: next, lastError: error.slice(0, 512) } })
    },

    /** Given up: the body is cleared as well (its link or code is of no use to anyone now). */
    async markFailed (id: bigint, attempts: number, error: string): Promise<void> {
      await prisma.mailOutbox.updateMany({ where: { id, attempts }, data: { failedAt: new Date(), sealed: null, lastError: error.slice(0, 512) } })
    },

    queued: (): Promise<number> => prisma.mailOutbox.count({ where: { sentAt: null, failedAt: null } }),

    /** Sent or given-up mails older than `before` (kept a while for the hourly count and for an operator's look). */
    async pruneMails (before: Date): Promise<number> {
      return (await prisma.mailOutbox.deleteMany({ where: { createdAt: { lt: before }, OR: [{ sentAt: { not: null } }, { failedAt: { not: null } }] } })).count
    }
  }
}

export type EmailStore = ReturnType<typeof createEmailStore>
