// Every query of the second-factor tables: TotpFactor, RecoveryCode,
// Passkey, WebAuthnChallenge and MfaToken. Rows come back plain; the rules
// (codes, signatures, one use) are in totp.ts, passkeys.ts, mfa-tokens.ts
// and step-up.ts.
import type { Prisma, PrismaClient } from '../generated/prisma/client.ts'

/** A transaction of another domain's change (password, admin reset) that ends second-factor state with it. */
type Tx = Prisma.TransactionClient

export interface TotpFactorRow { userId: string, secret: string, createdAt: Date, confirmedAt: Date | null, lastStep: bigint }
export interface PasskeyRow {
  id: string
  userId: string
  name: string
  publicKey: Uint8Array<ArrayBuffer>
  counter: bigint
  transports: string[]
  deviceType: string
  backedUp: boolean
  createdAt: Date
  lastUsedAt: Date | null
}
export type NewPasskey = Omit<PasskeyRow, 'createdAt' | 'lastUsedAt'>
export interface CredentialRef { id: string, transports: string[] }
/** `amr`: how the first step signed in; `identityId` and `idpSid`: a first step at a provider. */
export interface MfaTokenRow { tokenHash: string, userId: string, passwordVersion: number, expiresAt: Date, amr: string[], identityId: string | null, idpSid: string | null }

export function createMfaStore (deps: { prisma: PrismaClient }) {
  const { prisma } = deps

  return {
    // TotpFactor and RecoveryCode

    findFactor: (userId: string): Promise<TotpFactorRow | null> => prisma.totpFactor.findUnique({ where: { userId } }),

    async factorConfirmedAt (userId: string): Promise<{ confirmedAt: Date | null } | null> {
      return prisma.totpFactor.findUnique({ where: { userId }, select: { confirmedAt: true } })
    },

    /** Replaces a pending factor's secret; a confirmed one is never touched. True if there was a pending one. */
    async replacePendingFactor (userId: string, secret: string): Promise<boolean> {
      const { count } = await prisma.totpFactor.updateMany({ where: { userId, confirmedAt: null }, data: { secret, lastStep: 0, createdAt: new Date() } })
      return count !== 0
    },

    /** Throws if the user has a factor already (the primary key). */
    async insertFactor (userId: string, secret: string): Promise<void> {
      await prisma.totpFactor.create({ data: { userId, secret } })
    },

    /** Takes `step` as used if it is later than every step used before, on a confirmed factor. */
    async claimStep (userId: string, step: number): Promise<boolean> {
      const { count } = await prisma.totpFactor.updateMany({ where: { userId, lastStep: { lt: step }, confirmedAt: { not: null } }, data: { lastStep: step } })
      return count === 1
    },

    /** Confirms the pending factor at `step` and replaces its recovery codes, in one transaction; false if it was not pending (or the step was used). */
    confirmFactor (userId: string, step: number, confirmedAt: Date, codes: Array<{ id: string, codeHash: string }>): Promise<boolean> {
      return prisma.$transaction(async (tx) => {
        const { count } = await tx.totpFactor.updateMany({ where: { userId, confirmedAt: null, lastStep: { lt: step } }, data: { lastStep: step, confirmedAt } })
        if (count !== 1) return false
        await tx.recoveryCode.deleteMany({ where: { userId } })
        await tx.recoveryCode.createMany({ data: codes.map((c) => ({ id: c.id, userId, codeHash: c.codeHash })) })
        return true
      })
    },

    countConfirmedFactors: (userId: string): Promise<number> => prisma.totpFactor.count({ where: { userId, confirmedAt: { not: null } } }),

    /** The factor and its recovery codes, in one transaction. */
    async deleteFactor (userId: string): Promise<void> {
      await prisma.$transaction([
        prisma.recoveryCode.deleteMany({ where: { userId } }),
        prisma.totpFactor.deleteMany({ where: { userId } })
      ])
    },

    /** The same inside another domain's transaction (an operator's MFA reset). */
    async deleteFactorIn (tx: Tx, userId: string): Promise<void> {
      await tx.recoveryCode.deleteMany({ where: { userId } })
      await tx.totpFactor.deleteMany({ where: { userId } })
    },

    /** Marks an unused recovery code used: true once, never again. */
    async spendRecoveryCode (userId: string, codeHash: string, usedAt: Date): Promise<boolean> {
      const { count } = await prisma.recoveryCode.updateMany({ where: { userId, codeHash, usedAt: null }, data: { usedAt } })
      return count === 1
    },

    countRecoveryCodesLeft: (userId: string): Promise<number> => prisma.recoveryCode.count({ where: { userId, usedAt: null } }),

    // Passkey

    credentialsOf: (userId: string): Promise<CredentialRef[]> => prisma.passkey.findMany({ where: { userId }, select: { id: true, transports: true } }),

    /**
     * The user of a username key and their credentials, in one query. It
     * reads User too: a passkey sign-in by username needs nothing else of it.
     */
    async credentialsOfUsername (usernameKey: string): Promise<{ id: string, passkeys: CredentialRef[] } | null> {
      return prisma.user.findUnique({ where: { usernameKey }, select: { id: true, passkeys: { select: { id: true, transports: true } } } })
    },

    /** Throws if the credential is registered already (the primary key). */
    insertPasskey: (data: NewPasskey): Promise<PasskeyRow> => prisma.passkey.create({ data }),

    listPasskeys: (userId: string): Promise<PasskeyRow[]> => prisma.passkey.findMany({ where: { userId }, orderBy: { createdAt: 'asc' } }),

    findPasskey: (id: string): Promise<PasskeyRow | null> => prisma.passkey.findUnique({ where: { id } }),

    getPasskey: (id: string): Promise<PasskeyRow> => prisma.passkey.findUniqueOrThrow({ where: { id } }),

    /** True if the user has this passkey (and it was renamed). */
    async renamePasskey (userId: string, id: string, name: string): Promise<boolean> {
      const { count } = await prisma.passkey.updateMany({ where: { id, userId }, data: { name } })
      return count === 1
    },

    /** True if the user had this passkey. */
    /**
     * Deletes the user's passkey unless it is their last way in (no
     * password, no identity at a provider, no other passkey); the user's row
     * is locked first, so two deletions at once cannot each count the other.
     */
    async deletePasskey (userId: string, id: string): Promise<'deleted' | 'last' | 'unknown'> {
      return await prisma.$transaction(async (tx) => {
        // The lock first, the count in a statement of its own (a fresh snapshot after the wait).
        if ((await tx.$queryRaw<unknown[]>`SELECT id FROM "User" WHERE id = ${userId}::uuid FOR UPDATE`).length === 0) return 'unknown'
        const rows = await tx.$queryRaw<Array<{ password: boolean, identities: number, others: number }>>`
          SELECT u."passwordHash" IS NOT NULL AS password,
                 (SELECT count(*)::int FROM "Identity" i WHERE i."userId" = u.id) AS identities,
                 (SELECT count(*)::int FROM "Passkey" p WHERE p."userId" = u.id AND p.id <> ${id}) AS others
            FROM "User" u WHERE u.id = ${userId}::uuid`
        const row = rows[0]
        if (row === undefined) return 'unknown'
        if (!row.password && row.identities === 0 && row.others === 0 && await tx.passkey.count({ where: { id, userId } }) === 1) return 'last'
        const { count } = await tx.passkey.deleteMany({ where: { id, userId } })
        return count === 1 ? 'deleted' : 'unknown'
      })
    },

    /** Moves the signature counter to `next` if it is a move forward (or both are 0: an authenticator without a counter). */
    async advanceCounter (id: string, next: bigint): Promise<boolean> {
      const { count } = await prisma.passkey.updateMany({
        where: { id, OR: [{ counter: { lt: next } }, ...(next === 0n ? [{ counter: 0n }] : [])] },
        data: { counter: next, lastUsedAt: new Date() }
      })
      return count === 1
    },

    countPasskeys: (userId: string): Promise<number> => prisma.passkey.count({ where: { userId } }),

    // WebAuthnChallenge

    async insertChallenge (challenge: string, kind: string, userId: string | null, expiresAt: Date): Promise<void> {
      await prisma.webAuthnChallenge.create({ data: { challenge, kind, userId, expiresAt } })
    },

    /** Deletes the live challenge of this kind issued for `userId` (or for no user, if `orUnbound`): true once, never again. */
    async spendChallenge (challenge: string, kind: string, userId: string, orUnbound: boolean): Promise<boolean> {
      const userMatch = orUnbound ? [{ userId: null }, { userId }] : [{ userId }]
      const { count } = await prisma.webAuthnChallenge.deleteMany({ where: { challenge, kind, expiresAt: { gt: new Date() }, OR: userMatch } })
      return count === 1
    },

    async pruneChallenges (before: Date): Promise<number> {
      return (await prisma.webAuthnChallenge.deleteMany({ where: { expiresAt: { lt: before } } })).count
    },

    // MfaToken

    async insertMfaToken (row: MfaTokenRow): Promise<void> {
      await prisma.mfaToken.create({ data: row })
    },

    /** Marks a live, unused token used at `now`: true for one caller only. */
    async takeMfaToken (tokenHash: string, now: Date): Promise<boolean> {
      const { count } = await prisma.mfaToken.updateMany({ where: { tokenHash, usedAt: null, expiresAt: { gt: now } }, data: { usedAt: now } })
      return count === 1
    },

    getMfaToken: (tokenHash: string): Promise<Omit<MfaTokenRow, 'tokenHash' | 'expiresAt'>> =>
      prisma.mfaToken.findUniqueOrThrow({ where: { tokenHash }, select: { userId: true, passwordVersion: true, amr: true, identityId: true, idpSid: true } }),

    async untakeMfaToken (tokenHash: string): Promise<void> {
      await prisma.mfaToken.updateMany({ where: { tokenHash }, data: { usedAt: null } })
    },

    /** Every token of the user; `tx`: inside another domain's transaction (a password change or reset, an MFA reset). */
    async deleteMfaTokensOf (userId: string, tx: Tx = prisma): Promise<void> {
      await tx.mfaToken.deleteMany({ where: { userId } })
    },

    async pruneMfaTokens (before: Date): Promise<number> {
      return (await prisma.mfaToken.deleteMany({ where: { expiresAt: { lt: before } } })).count
    }
  }
}

export type MfaStore = ReturnType<typeof createMfaStore>
