// Every query of the Session and RefreshToken tables: the prepared
// statements of the hot path (open, refresh) beside the Prisma calls of the
// rest. Rows come back plain; the rules are in sessions.ts and rotation.ts.
import type { Prisma, PrismaClient } from '../generated/prisma/client.ts'
import type { Database, Statement } from '../db/database.ts'
import { isUniqueViolation } from '../db/errors.ts'
import { ROLES_OF_U } from '../accounts/store.ts'

// Login: the session and its first token in one statement, written only if
// the user is still enabled, at the token version the login read, and with
// the password the login checked (no password change or reset since). The
// user's row is locked (FOR SHARE) while it is written, so a user-wide
// revocation (which locks it first: user-revocation.ts) either waits for this
// session and then ends it, or commits first and this writes nothing.
const OPEN: Statement = {
  // The identity is looked up, not taken on trust: one unlinked meanwhile leaves the session without it.
  name: 'session_open_v6',
  text: `WITH u AS (
           SELECT id FROM "User" WHERE id = $2::uuid AND "tokenVersion" = $10::int AND "passwordVersion" = $11::int AND NOT disabled FOR SHARE
         ), opened AS (
           INSERT INTO "Session" (id, "userId", "createdAt", "lastUsedAt", "expiresAt", "userAgent", ip, amr, "authTime", "dpopJkt", "identityId", "idpSid")
           SELECT $1::uuid, u.id, $3::timestamptz, $3::timestamptz, $4::timestamptz, $5::varchar, $6::varchar, $12::varchar[], $3::timestamptz, $13::varchar,
                  (SELECT id FROM "Identity" WHERE id = $14::uuid), $15::varchar FROM u
           RETURNING id
         )
         INSERT INTO "RefreshToken" (id, "sessionId", "tokenHash", "expiresAt", "createdAt")
         SELECT $7::uuid, id, $8::varchar, $9::timestamptz, $3::timestamptz FROM opened
         RETURNING id`
}

/** A lookup that also tried the rotation: `nextExpiresAt` is the successor's expiry if it rotated, null if not. */
export interface Rotated extends TokenRow { nextExpiresAt: Date | null }

export interface TokenRow {
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
  email: string | null
  emailVerified: boolean
  roles: string[]
  amr: string[]
  authTime: Date
  dpopJkt: string | null
  dpopBoundAtRefresh: boolean
}

// Token, session, user, its token version and roles in one join: the access
// token issued from it carries one consistent state of the user.
const FIND = `SELECT t.id, t."usedAt", t."expiresAt",
                     s.id AS "sessionId", s."revokedAt", s."expiresAt" AS "sessionExpiresAt", s.amr, s."authTime", s."dpopJkt", s."dpopBoundAtRefresh",
                     u.id AS "userId", u.username, u.disabled, u."tokenVersion", u.email, u."emailVerified",
                     ${ROLES_OF_U} AS roles
                FROM "RefreshToken" t
                JOIN "Session" s ON s.id = t."sessionId"
                JOIN "User" u ON u.id = s."userId"
               WHERE t."tokenHash" = $1`

const LOOKUP: Statement = { name: 'refresh_lookup_v7', text: FIND }

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
  name: 'refresh_rotate_v7',
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

/** The values OPEN writes, in its parameters' order. */
export interface NewSession {
  sessionId: string
  userId: string
  now: Date
  sessionExpiresAt: Date
  userAgent: string | null
  ip: string | null
  tokenId: string
  tokenHash: string
  tokenExpiresAt: Date
  tokenVersion: number
  passwordVersion: number
  amr: string[]
  dpopJkt: string | null
  /** A sign-in with a provider: the identity and the provider's session id (sid). */
  identityId: string | null
  idpSid: string | null
}

/** Which sessions a provider's logout names: an identity's, a provider session's (sid at its issuer), or the sessions of both. */
export type OpenedBy = { identityId: string, issuer?: undefined, idpSid?: undefined } | { identityId?: string, issuer: string, idpSid: string }

/** Rows a prune deletes per statement (each batch took at most 313 ms at a million users). */
const PRUNE_BATCH = 5000

export function createSessionStore (deps: { prisma: PrismaClient, query: Database['query'] }) {
  const { prisma, query } = deps
  const live = (now: number) => ({ revokedAt: null, expiresAt: { gt: new Date(now) } })

  return {
    /** The session and its first token, written only if the user is as the login read them; false otherwise. */
    async open (s: NewSession): Promise<boolean> {
      const written = await query(OPEN, [s.sessionId, s.userId, s.now, s.sessionExpiresAt, s.userAgent, s.ip, s.tokenId, s.tokenHash, s.tokenExpiresAt, s.tokenVersion, s.passwordVersion, s.amr, s.dpopJkt, s.identityId, s.idpSid])
      return written.length === 1
    },

    /** Ends a session not ended yet; false if it already was (or is not). */
    async end (sessionId: string, reason: string, now: number): Promise<boolean> {
      const { count } = await prisma.session.updateMany({ where: { id: sessionId, revokedAt: null }, data: { revokedAt: new Date(now), revokedReason: reason } })
      return count > 0
    },

    /** The session a refresh token (by its hash) belongs to, and the DPoP key it is bound to. */
    async ofToken (tokenHash: string): Promise<{ id: string, dpopJkt: string | null } | undefined> {
      const row = await prisma.refreshToken.findUnique({ where: { tokenHash }, select: { session: { select: { id: true, dpopJkt: true } } } })
      return row?.session
    },

    /** The user's sessions that can still refresh, most recently used first. */
    listActive (userId: string, now: number, take: number) {
      return prisma.session.findMany({
        where: { userId, ...live(now), tokens: { some: { usedAt: null, expiresAt: { gt: new Date(now) } } } },
        orderBy: { lastUsedAt: 'desc' },
        take
      })
    },

    /** Whether `id` is a session of this user not ended yet. */
    async isOwnOpen (id: string, userId: string): Promise<boolean> {
      return (await prisma.session.findFirst({ where: { id, userId, revokedAt: null }, select: { id: true } })) !== null
    },

    /** The session if it is the user's and live at `now`. */
    async live (sessionId: string, userId: string, now: number) {
      return await prisma.session.findFirst({ where: { id: sessionId, userId, ...live(now) }, select: { id: true, userId: true, expiresAt: true, dpopJkt: true } }) ?? undefined
    },

    /** How and when the session signed in, set to `amr` and `authTime`; false when it ended meanwhile. */
    async restamp (sessionId: string, userId: string, amr: string[], authTime: Date, now: number): Promise<boolean> {
      const { count } = await prisma.session.updateMany({ where: { id: sessionId, userId, ...live(now) }, data: { amr, authTime } })
      return count === 1
    },

    /**
     * Ends every open session of the user but `keepSessionId`, inside the
     * caller's transaction (a password change); their ids.
     */
    async endOthersIn (tx: Prisma.TransactionClient, userId: string, keepSessionId: string): Promise<string[]> {
      const sessions = await tx.$queryRaw<Array<{ id: string }>>`
        UPDATE "Session" SET "revokedAt" = now(), "revokedReason" = 'password-changed'
         WHERE "userId" = ${userId}::uuid AND "revokedAt" IS NULL AND id <> ${keepSessionId}::uuid RETURNING id`
      return sessions.map((s) => s.id)
    },

    /**
     * Ends the open sessions opened through a provider: those of one
     * identity, or of one provider session (`idpSid` at `issuer`), or both
     * at once (a back-channel logout). `except`: a session to keep.
     */
    async endOpenedBy (by: OpenedBy, reason: string, now: number, except?: string): Promise<string[]> {
      const rows = await prisma.session.updateManyAndReturn({
        where: {
          revokedAt: null,
          identityId: by.identityId ?? { not: null },
          ...(by.idpSid !== undefined ? { idpSid: by.idpSid, identity: { issuer: by.issuer } } : {}),
          ...(except !== undefined ? { id: { not: except } } : {})
        },
        data: { revokedAt: new Date(now), revokedReason: reason },
        select: { id: true }
      })
      return rows.map((r) => r.id)
    },

    /** Ends the open sessions an identity opened but `except`, inside the caller's transaction (the identity is unlinked). */
    async endOpenedByIn (tx: Prisma.TransactionClient, identityId: string, reason: string, except: string): Promise<string[]> {
      const rows = await tx.$queryRaw<Array<{ id: string }>>`
        UPDATE "Session" SET "revokedAt" = now(), "revokedReason" = ${reason}
         WHERE "identityId" = ${identityId}::uuid AND "revokedAt" IS NULL AND id <> ${except}::uuid RETURNING id`
      return rows.map((r) => r.id)
    },

    /** Ends every open session of the user, inside the caller's transaction (a user-wide revocation). */
    async endAllIn (tx: Prisma.TransactionClient, userId: string, reason: string): Promise<void> {
      await tx.session.updateMany({ where: { userId, revokedAt: null }, data: { revokedAt: new Date(), revokedReason: reason } })
    },

    /**
     * Sessions ended or expired before `horizon`, and tokens expired before
     * `now`, a batch at a time: one statement over a day's backlog (500,000
     * tokens at a million users, figure 9d) outlasts the pool's
     * statement_timeout, and the prune would then never finish.
     */
    async prune (horizon: Date, now: number): Promise<{ tokens: number, sessions: number }> {
      const batches = async (run: () => Promise<number>) => {
        let total = 0
        for (let n = PRUNE_BATCH; n === PRUNE_BATCH; total += n) n = await run()
        return total
      }
      // By row address (a TID scan): the batch's rows are found once, through the expiry indexes.
      const sessions = await batches(() => prisma.$executeRaw`
        DELETE FROM "Session" WHERE ctid = ANY(ARRAY(
          SELECT ctid FROM "Session" WHERE "revokedAt" < ${horizon} OR "expiresAt" < ${horizon} LIMIT ${PRUNE_BATCH}))`)
      const tokens = await batches(() => prisma.$executeRaw`
        DELETE FROM "RefreshToken" WHERE ctid = ANY(ARRAY(
          SELECT ctid FROM "RefreshToken" WHERE "expiresAt" < ${new Date(now)} LIMIT ${PRUNE_BATCH}))`)
      return { tokens, sessions }
    },

    /** The token (by its hash) with its session and user, as a refresh reads them. */
    async lookup (tokenHash: string): Promise<TokenRow | null> {
      return (await query<TokenRow>(LOOKUP, [tokenHash]))[0] ?? null
    },

    /** The lookup and, if the token is live and valid (and the proof's key fits), its rotation; null when the token is unknown. */
    async lookupAndRotate (tokenHash: string, now: Date, successorId: string, successorHash: string, successorExpiresAt: Date, dpopJkt: string | null): Promise<Rotated | null> {
      try {
        return (await query<Rotated>(FIND_AND_ROTATE, [tokenHash, now, successorId, successorHash, successorExpiresAt, dpopJkt]))[0] ?? null
      } catch (err) {
        // The unique parentId still guards the chain: a second successor can never be inserted.
        if (!isUniqueViolation(err)) throw err
        const row = (await query<TokenRow>(LOOKUP, [tokenHash]))[0]
        return row === undefined ? null : { ...row, nextExpiresAt: null }
      }
    },

    /** A token as it is now (spent or not) and its session's binding. */
    spentState (tokenId: string) {
      return prisma.refreshToken.findUniqueOrThrow({ where: { id: tokenId }, select: { usedAt: true, session: { select: { dpopJkt: true, dpopBoundAtRefresh: true } } } })
    },

    /** The token a rotation of `tokenId` inserted, if any. */
    childOf (tokenId: string) {
      return prisma.refreshToken.findUnique({ where: { parentId: tokenId }, select: { id: true, tokenHash: true, usedAt: true, expiresAt: true } })
    }
  }
}

export type SessionStore = ReturnType<typeof createSessionStore>
