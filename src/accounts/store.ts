// Every query of the User and UserRole tables: the prepared statements of
// the login beside the Prisma calls of registration and administration, and
// the password writes of change and reset (passwords/change-and-reset.ts).
// Rows come back plain; the rules are in accounts.ts and admin.ts.
import type { Prisma, PrismaClient } from '../generated/prisma/client.ts'
import type { Database, Statement } from '../db/database.ts'
import { LOCKS, lockForTransaction } from '../db/locks.ts'

/** A transaction another service opened (a user-wide revocation, a password change) that changes the user with it. */
type Tx = Prisma.TransactionClient

/** A user's roles as a sorted text[], for statements sent straight to the driver: the user's row is `u`. */
export const ROLES_OF_U = 'COALESCE((SELECT array_agg(r."roleName"::text ORDER BY r."roleName") FROM "UserRole" r WHERE r."userId" = u.id), \'{}\'::text[])'

/** The same roles through Prisma's query API. */
export const userWithRoles = { roles: { select: { roleName: true }, orderBy: { roleName: 'asc' as const } } }

export type UserWithRoles = Prisma.UserGetPayload<{ include: typeof userWithRoles }>

/** What a login reads of a user: `totp` whether a confirmed TOTP factor asks for a second step. */
export interface LoginRow {
  id: string
  username: string
  roles: string[]
  disabled: boolean
  tokenVersion: number
  /** Null: no password (an account made by a sign-in with a provider). */
  passwordHash: string | null
  passwordVersion: number
  /** The account's address and whether it is verified: carried into its access tokens. */
  email: string | null
  emailVerified: boolean
  totp: boolean
}

export interface NewIdentity { id: string, provider: string, issuer: string, subject: string, email: string | null, lastUsedAt: Date }

/** `passwordHash` null: no password (an account made by a sign-in with a provider); `email` verified when `verifiedEmailKey` is set. */
export interface NewUser { id: string, username: string, usernameKey: string, passwordHash: string | null, roles: string[], email?: string, verifiedEmailKey?: string }

// The login's lookup: the user and its roles in one statement, straight to
// the driver. Through Prisma it was two queries and most of a login's
// main-thread time on PGlite (bench/profile.ts login). It reads TotpFactor
// too: whether the login needs a second step comes in the same round trip.
const LOGIN_COLUMNS = `u.id, u.username, u.disabled, u."tokenVersion", u."passwordHash", u."passwordVersion", u.email, u."emailVerified", ${ROLES_OF_U} AS roles,
  EXISTS (SELECT 1 FROM "TotpFactor" f WHERE f."userId" = u.id AND f."confirmedAt" IS NOT NULL) AS totp`
const FIND_FOR_LOGIN: Statement = { name: 'login_lookup_v4', text: `SELECT ${LOGIN_COLUMNS} FROM "User" u WHERE u."usernameKey" = $1` }
const FIND_BY_ID: Statement = { name: 'login_reread_v3', text: `SELECT ${LOGIN_COLUMNS} FROM "User" u WHERE u.id = $1::uuid` }
const FIND_BY_VERIFIED_EMAIL: Statement = { name: 'login_by_email_v2', text: `SELECT ${LOGIN_COLUMNS} FROM "User" u WHERE u."verifiedEmailKey" = $1` }
// Only a hash that is still the one checked is replaced: never a password changed meanwhile.
const REHASH: Statement = { name: 'login_rehash_v1', text: 'UPDATE "User" SET "passwordHash" = $3 WHERE id = $1::uuid AND "passwordHash" = $2 RETURNING id' }
const MAX_COST: Statement = { name: 'max_bcrypt_cost_v1', text: 'SELECT max(substring("passwordHash" from \'^\\$2[abxy]?\\$(\\d\\d)\\$\')::int) AS cost FROM "User"' }

const created = (u: NewUser) => ({
  id: u.id,
  username: u.username,
  usernameKey: u.usernameKey,
  passwordHash: u.passwordHash,
  email: u.email ?? null,
  emailVerified: u.verifiedEmailKey !== undefined,
  verifiedEmailKey: u.verifiedEmailKey ?? null,
  roles: { create: u.roles.map((roleName) => ({ roleName })) }
})

export function createAccountStore (deps: { prisma: PrismaClient, query: Database['query'] }) {
  const { prisma, query } = deps

  return {
    // The login (prepared statements)

    findForLogin: async (usernameKey: string): Promise<LoginRow | undefined> => (await query<LoginRow>(FIND_FOR_LOGIN, [usernameKey]))[0],

    findForLoginById: async (id: string): Promise<LoginRow | undefined> => (await query<LoginRow>(FIND_BY_ID, [id]))[0],

    /** The user who verified this address (lower case), if any. */
    findForLoginByVerifiedEmail: async (emailKey: string): Promise<LoginRow | undefined> => (await query<LoginRow>(FIND_BY_VERIFIED_EMAIL, [emailKey]))[0],

    /** Replaces `checkedHash` by `fresh` (a re-hash, not a password change); false if the hash is no longer the one checked. */
    async replaceHash (id: string, checkedHash: string, fresh: string): Promise<boolean> {
      return (await query(REHASH, [id, checkedHash, fresh])).length === 1
    },

    /** The highest bcrypt cost among stored hashes; null with no user (undefined: no row, never in practice). */
    maxStoredCost: async (): Promise<number | null | undefined> => (await query<{ cost: number | null }>(MAX_COST, []))[0]?.cost,

    // Registration and the bootstrap admin

    async usernameTaken (usernameKey: string): Promise<boolean> {
      return await prisma.user.findUnique({ where: { usernameKey }, select: { id: true } }) !== null
    },

    /** Throws a unique violation if the name is taken. */
    insertUser: (user: NewUser): Promise<UserWithRoles> => prisma.user.create({ data: created(user), include: userWithRoles }),

    /** A user made by a sign-in with a provider, with the identity it came with, in one statement: never one without the other. */
    insertUserWithIdentity: (user: NewUser, identity: NewIdentity): Promise<UserWithRoles> =>
      prisma.user.create({ data: { ...created(user), identities: { create: identity } }, include: userWithRoles }),

    /** The same, without reading the user back. */
    async insertUserOnly (user: NewUser): Promise<void> {
      await prisma.user.create({ data: created(user) })
    },

    // Administration

    findById: (id: string): Promise<UserWithRoles | null> => prisma.user.findUnique({ where: { id }, include: userWithRoles }),

    findByUsername: (usernameKey: string): Promise<UserWithRoles | null> => prisma.user.findUnique({ where: { usernameKey }, include: userWithRoles }),

    /** Up to `take` users after the id `after`, by id. */
    listAfter: (after: string | undefined, take: number): Promise<UserWithRoles[]> => prisma.user.findMany({
      where: after !== undefined ? { id: { gt: after } } : {},
      orderBy: { id: 'asc' },
      take,
      include: userWithRoles
    }),

    /** False if there is no such user. */
    async enable (id: string): Promise<boolean> {
      return (await prisma.user.updateMany({ where: { id }, data: { disabled: false } })).count !== 0
    },

    // Inside a user-wide revocation's transaction (admin.ts)

    // Serialises the last-admin check with the change it allows, across
    // instances: two concurrent demotions cannot each count the other as the
    // remaining admin. Held until the transaction ends.
    lockAdminSet: (tx: Tx): Promise<void> => lockForTransaction(tx, LOCKS.adminSet),

    findByIdIn: (tx: Tx, id: string): Promise<UserWithRoles | null> => tx.user.findUnique({ where: { id }, include: userWithRoles }),

    countOtherEnabledAdmins: (tx: Tx, id: string): Promise<number> =>
      tx.user.count({ where: { id: { not: id }, disabled: false, roles: { some: { roleName: 'admin' } } } }),

    async replaceRolesIn (tx: Tx, userId: string, roles: string[]): Promise<void> {
      await tx.userRole.deleteMany({ where: { userId } })
      await tx.userRole.createMany({ data: roles.map((roleName) => ({ userId, roleName })) })
    },

    async disableIn (tx: Tx, id: string): Promise<void> {
      await tx.user.update({ where: { id }, data: { disabled: true } })
    },

    // Password changes and resets (passwords/change-and-reset.ts), in their transaction

    /** A new password, only if it is still at `passwordVersion` (locks the user's row); false if it moved. */
    async setPasswordIfVersion (tx: Tx, id: string, passwordVersion: number, passwordHash: string): Promise<boolean> {
      const rows = await tx.$queryRaw<Array<{ id: string }>>`
        UPDATE "User" SET "passwordHash" = ${passwordHash}, "passwordVersion" = "passwordVersion" + 1
         WHERE id = ${id}::uuid AND "passwordVersion" = ${passwordVersion} RETURNING id`
      return rows.length !== 0
    },

    async setPassword (tx: Tx, id: string, passwordHash: string): Promise<void> {
      await tx.$executeRaw`UPDATE "User" SET "passwordHash" = ${passwordHash}, "passwordVersion" = "passwordVersion" + 1 WHERE id = ${id}::uuid`
    }
  }
}

export type AccountStore = ReturnType<typeof createAccountStore>
