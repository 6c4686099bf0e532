// Every query of the OpenID Connect tables: sign-ins in flight
// (OidcTransaction), the header-mode login codes, the identities linked to
// users, and the tokens a provider sends that are good once. Rows come back
// plain; the rules are in flow.ts, identities.ts and logout-token.ts.
import type { Prisma, PrismaClient } from '../generated/prisma/client.ts'
import type { Database } from '../db/database.ts'

export interface Transaction {
  id: string
  provider: string
  binding: string
  mode: string
  returnTo: string
  codeVerifier: string
  nonce: string
  linkUserId: string | null
  appChallenge: string | null
  expiresAt: Date
}

export interface LoginCode { codeHash: string, userId: string, passwordVersion: number, identityId: string, idpSid: string | null, appChallenge: string | null, expiresAt: Date }

export interface IdentityRow { id: string, userId: string, provider: string, issuer: string, subject: string, email: string | null, createdAt: Date }

export function createOidcStore (deps: { prisma: PrismaClient, query: Database['query'] }) {
  const { prisma } = deps

  return {
    async insertTransaction (row: Transaction): Promise<void> {
      await prisma.oidcTransaction.create({ data: row })
    },

    /**
     * Spends the transaction if it is unspent, unexpired, of this provider and
     * of this browser (one caller wins); undefined otherwise. A callback at
     * another provider's path, or from another browser, spends nothing: it
     * cannot burn the sign-in of the browser that started it.
     */
    async takeTransaction (id: string, provider: string, binding: string, now: Date): Promise<Transaction | undefined> {
      const rows = await prisma.$queryRaw<Transaction[]>`
        UPDATE "OidcTransaction" SET "usedAt" = ${now}
         WHERE id = ${id} AND provider = ${provider} AND binding = ${binding} AND "usedAt" IS NULL AND "expiresAt" > ${now}
        RETURNING id, provider, binding, mode, "returnTo", "codeVerifier", nonce, "linkUserId", "appChallenge", "expiresAt"`
      return rows[0]
    },

    /** A spent or expired transaction, still known until pruned: where to send its browser back. */
    findTransaction: (id: string) => prisma.oidcTransaction.findUnique({ where: { id }, select: { returnTo: true, provider: true } }),

    async insertLoginCode (row: LoginCode): Promise<void> {
      await prisma.oidcLoginCode.create({ data: row })
    },

    /** Spends the code if it is live and its challenge is the one shown (none for a code without one). */
    async takeLoginCode (codeHash: string, challenge: string | null, now: Date): Promise<LoginCode | undefined> {
      const rows = await prisma.$queryRaw<LoginCode[]>`
        UPDATE "OidcLoginCode" SET "usedAt" = ${now}
         WHERE "codeHash" = ${codeHash} AND "usedAt" IS NULL AND "expiresAt" > ${now}
           AND "appChallenge" IS NOT DISTINCT FROM ${challenge}::varchar
        RETURNING "codeHash", "userId", "passwordVersion", "identityId", "idpSid", "appChallenge", "expiresAt"`
      return rows[0]
    },

    findIdentity: (issuer: string, subject: string): Promise<IdentityRow | null> =>
      prisma.identity.findUnique({ where: { issuer_subject: { issuer, subject } } }),

    /** Links an identity to a user; throws a unique violation if (issuer, sub) is linked already. */
    async insertIdentity (row: { id: string, userId: string, provider: string, issuer: string, subject: string, email: string | null, lastUsedAt: Date }): Promise<void> {
      await prisma.identity.create({ data: row })
    },

    async touchIdentity (id: string, email: string | null, now: Date): Promise<void> {
      await prisma.identity.updateMany({ where: { id }, data: { email, lastUsedAt: now } })
    },

    listIdentities: (userId: string): Promise<IdentityRow[]> =>
      prisma.identity.findMany({ where: { userId }, orderBy: { createdAt: 'asc' } }),

    /**
     * Removes the user's identity unless it is their last way in (no
     * password, no passkey, no other identity): the user's row is locked
     * first, so two removals at once cannot each count the other's identity.
     * `withIt` runs in the same transaction first (ending its sessions).
     */
    async deleteIdentityUnlessLast (userId: string, identityId: string, withIt: (tx: Prisma.TransactionClient) => Promise<string[]>): Promise<{ result: 'deleted' | 'last' | 'unknown', ended: string[] }> {
      return await prisma.$transaction(async (tx) => {
        // The lock first, the count in a statement of its own: a statement's
        // subqueries see the snapshot taken when it began (READ COMMITTED), so
        // a caller that waited here would still count what the holder deleted.
        if ((await tx.$queryRaw<unknown[]>`SELECT id FROM "User" WHERE id = ${userId}::uuid FOR UPDATE`).length === 0) return { result: 'unknown', ended: [] }
        const rows = await tx.$queryRaw<Array<{ password: boolean, passkeys: number, others: number, mine: number }>>`
          SELECT u."passwordHash" IS NOT NULL AS password,
                 (SELECT count(*)::int FROM "Passkey" p WHERE p."userId" = u.id) AS passkeys,
                 (SELECT count(*)::int FROM "Identity" i WHERE i."userId" = u.id AND i.id <> ${identityId}::uuid) AS others,
                 (SELECT count(*)::int FROM "Identity" i WHERE i."userId" = u.id AND i.id = ${identityId}::uuid) AS mine
            FROM "User" u WHERE u.id = ${userId}::uuid`
        const row = rows[0]
        if (row === undefined || row.mine === 0) return { result: 'unknown', ended: [] }
        if (!row.password && row.passkeys === 0 && row.others === 0) return { result: 'last', ended: [] }
        // Before the row goes (its sessions would lose their identity): what goes with it, in this
        // transaction; and the sign-ins it started that have not opened a session yet.
        const ended = await withIt(tx)
        await tx.oidcLoginCode.deleteMany({ where: { identityId } })
        await tx.mfaToken.deleteMany({ where: { identityId } })
        await tx.identity.delete({ where: { id: identityId } })
        return { result: 'deleted', ended }
      })
    },

    /**
     * The sign-ins through a provider session (or identity) that have not
     * opened a session yet: their login codes and second steps (MfaToken)
     * go, so that a back-channel logout also stops what is in flight.
     */
    async endPendingSignIns (by: { issuer: string, identityId?: string, idpSid?: string }): Promise<void> {
      const identityId = by.identityId ?? null
      const idpSid = by.idpSid ?? null
      await prisma.$transaction([
        prisma.$executeRaw`DELETE FROM "OidcLoginCode" c USING "Identity" i
          WHERE c."identityId" = i.id AND i.issuer = ${by.issuer} AND (${identityId}::uuid IS NULL OR i.id = ${identityId}::uuid) AND (${idpSid}::varchar IS NULL OR c."idpSid" = ${idpSid}::varchar)`,
        prisma.$executeRaw`DELETE FROM "MfaToken" m USING "Identity" i
          WHERE m."identityId" = i.id AND i.issuer = ${by.issuer} AND (${identityId}::uuid IS NULL OR i.id = ${identityId}::uuid) AND (${idpSid}::varchar IS NULL OR m."idpSid" = ${idpSid}::varchar)`
      ])
    },

    /** True the first time `key` is claimed before it expires; false for a replay. */
    async claimOnce (key: string, expiresAt: Date): Promise<boolean> {
      const rows = await prisma.$queryRaw<Array<{ key: string }>>`
        INSERT INTO "OidcSeenToken" (key, "expiresAt") VALUES (${key}, ${expiresAt})
        ON CONFLICT (key) DO NOTHING RETURNING key`
      return rows.length === 1
    },

    async prune (now: Date): Promise<number> {
      // A transaction is kept a day past its end: a late callback still finds where to send its browser.
      const dayAgo = new Date(now.getTime() - 86_400_000)
      const counts = await prisma.$transaction([
        prisma.oidcTransaction.deleteMany({ where: { expiresAt: { lt: dayAgo } } }),
        prisma.oidcLoginCode.deleteMany({ where: { expiresAt: { lt: now } } }),
        prisma.oidcSeenToken.deleteMany({ where: { expiresAt: { lt: now } } })
      ])
      return counts.reduce((n, c) => n + c.count, 0)
    }
  }
}

export type OidcStore = ReturnType<typeof createOidcStore>
