// Registration, credential checks and the admin bootstrap. No Fastify here.
import { randomUUID } from 'node:crypto'
import type { PrismaClient } from '../generated/prisma/client.ts'
import type { Database, Statement } from '../db/database.ts'
import { InvalidCredentialsError, PasswordTooCommonError, UsernameTakenError, ValidationError } from '../errors.ts'
import { isCommonPassword, passwordLength, PASSWORD_MAX, PASSWORD_MIN, type PasswordHasher } from './passwords.ts'

export const USERNAME_PATTERN = '^[A-Za-z0-9._-]{3,64}$'
const usernameRe = new RegExp(USERNAME_PATTERN)

export interface AccountUser { id: string, username: string, roles: string[], disabled: boolean, tokensValidAfter: Date | null }

export const userWithRoles = { roles: { select: { roleName: true }, orderBy: { roleName: 'asc' as const } } }

/** The same roles in SQL, for the statements sent straight to the driver: the user's row is `u`. */
export const ROLES_OF_U = 'COALESCE((SELECT array_agg(r."roleName"::text ORDER BY r."roleName") FROM "UserRole" r WHERE r."userId" = u.id), \'{}\'::text[])'

export function toAccountUser (u: { id: string, username: string, disabled: boolean, tokensValidAfter: Date | null, roles: Array<{ roleName: string }> }): AccountUser {
  return { id: u.id, username: u.username, disabled: u.disabled, tokensValidAfter: u.tokensValidAfter, roles: u.roles.map((r) => r.roleName) }
}

export function checkPassword (password: string): void {
  const n = passwordLength(password)
  if (n < PASSWORD_MIN || n > PASSWORD_MAX) throw new ValidationError(`password must be ${PASSWORD_MIN} to ${PASSWORD_MAX} characters`)
  if (isCommonPassword(password)) throw new PasswordTooCommonError()
}

/** A unique-constraint violation, from a model query (P2002) or a raw one (P2010 carrying the driver's SQLSTATE 23505). */
export function isUniqueViolation (err: unknown): boolean {
  const e = err as { code?: string, meta?: { driverAdapterError?: { cause?: { originalCode?: string } } } } | undefined
  return e?.code === 'P2002' || // Prisma's query API
    (e?.code === 'P2010' && e.meta?.driverAdapterError?.cause?.originalCode === '23505') || // Prisma's $queryRaw
    e?.code === '23505' // the driver itself (Database.query), pg and PGlite alike
}

// The login's lookup: the user and its roles in one statement, straight to
// the driver. Through Prisma it was two queries and most of a login's
// main-thread time on PGlite (bench/profile.ts login).
const FIND_FOR_LOGIN: Statement = {
  name: 'login_lookup_v1',
  text: `SELECT u.id, u.username, u.disabled, u."tokensValidAfter", u."passwordHash", ${ROLES_OF_U} AS roles
           FROM "User" u
          WHERE u."usernameKey" = $1`
}

interface LoginRow extends AccountUser { passwordHash: string }

export function createAccounts (deps: { prisma: PrismaClient, query: Database['query'], hasher: PasswordHasher }) {
  const { prisma, query, hasher } = deps

  async function register (username: string, password: string, roles: string[] = ['user']): Promise<AccountUser> {
    if (!usernameRe.test(username)) throw new ValidationError('username must be 3 to 64 letters, digits, ".", "_" or "-"')
    checkPassword(password)
    const key = username.toLowerCase()
    // Cheap early answer; the unique index is what actually decides.
    if (await prisma.user.findUnique({ where: { usernameKey: key }, select: { id: true } }) !== null) throw new UsernameTakenError()
    const passwordHash = await hasher.hash(password)
    try {
      const user = await prisma.user.create({
        data: { id: randomUUID(), username, usernameKey: key, passwordHash, roles: { create: roles.map((roleName) => ({ roleName })) } },
        include: userWithRoles
      })
      return toAccountUser(user)
    } catch (err) {
      if (isUniqueViolation(err)) throw new UsernameTakenError()
      throw err
    }
  }

  /** Same error, and one full bcrypt comparison, for an unknown user, a wrong password and a disabled account. */
  async function authenticate (username: string, password: string): Promise<AccountUser> {
    const user = usernameRe.test(username)
      ? (await query<LoginRow>(FIND_FOR_LOGIN, [username.toLowerCase()]))[0]
      : undefined
    if (user === undefined) {
      await hasher.verifyNothing(password)
      throw new InvalidCredentialsError()
    }
    const { passwordHash, ...account } = user
    const ok = await hasher.verify(password, passwordHash)
    if (!ok || account.disabled) throw new InvalidCredentialsError()
    return account
  }

  /** ADMIN_USERNAME / ADMIN_PASSWORD: that admin exists after start-up. */
  async function ensureAdmin (username: string, password: string): Promise<'created' | 'ensured'> {
    const existing = await prisma.user.findUnique({ where: { usernameKey: username.toLowerCase() }, select: { id: true } })
    if (existing === null) {
      // The operator's choice of password is not checked against the common list: only its length.
      const n = passwordLength(password)
      if (n < PASSWORD_MIN || n > PASSWORD_MAX) throw new ValidationError(`ADMIN_PASSWORD must be ${PASSWORD_MIN} to ${PASSWORD_MAX} characters`)
      try {
        await prisma.user.create({
          data: { id: randomUUID(), username, usernameKey: username.toLowerCase(), passwordHash: await hasher.hash(password), roles: { create: [{ roleName: 'user' }, { roleName: 'admin' }] } }
        })
        return 'created'
      } catch (err) {
        if (!isUniqueViolation(err)) throw err // another instance created it just now
      }
    }
    const user = await prisma.user.findUniqueOrThrow({ where: { usernameKey: username.toLowerCase() }, select: { id: true } })
    await prisma.userRole.createMany({ data: [{ userId: user.id, roleName: 'admin' }, { userId: user.id, roleName: 'user' }], skipDuplicates: true })
    return 'ensured'
  }

  return { register, authenticate, ensureAdmin }
}

export type Accounts = ReturnType<typeof createAccounts>
