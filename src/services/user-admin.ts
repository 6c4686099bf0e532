// Administration of users, shared by the admin routes and the operator's CLI.
import type { PrismaClient } from '../generated/prisma/client.ts'
import { LastAdminError, NotFoundError, ValidationError } from '../errors.ts'
import { userWithRoles, toAccountUser, type AccountUser } from './accounts.ts'
import type { UserRevocation } from './user-revocation.ts'
import { isId } from './ids.ts'

export const ROLES = ['admin', 'user'] as const
export const PAGE_MAX = 100

export function createUserAdmin (deps: { prisma: PrismaClient, userRevocation: UserRevocation }) {
  const { prisma, userRevocation } = deps

  async function get (id: string): Promise<AccountUser> {
    const user = isId(id) ? await prisma.user.findUnique({ where: { id }, include: userWithRoles }) : null
    if (user === null) throw new NotFoundError('No such user')
    return toAccountUser(user)
  }

  async function byUsername (username: string): Promise<AccountUser> {
    const user = await prisma.user.findUnique({ where: { usernameKey: username.toLowerCase() }, include: userWithRoles })
    if (user === null) throw new NotFoundError(`No user named ${username}`)
    return toAccountUser(user)
  }

  /** Other enabled admins besides this user: the last one cannot lose the role or be disabled. */
  async function assertNotLastAdmin (user: AccountUser): Promise<void> {
    if (!user.roles.includes('admin') || user.disabled) return
    const others = await prisma.user.count({ where: { id: { not: user.id }, disabled: false, roles: { some: { roleName: 'admin' } } } })
    if (others === 0) throw new LastAdminError()
  }

  return {
    get,
    byUsername,
    /** Stable order (by id), opaque cursor, limit capped at PAGE_MAX. */
    async list (limit: number, cursor?: string) {
      const take = Math.min(Math.max(1, limit), PAGE_MAX)
      let after: string | undefined
      if (cursor !== undefined && cursor !== '') {
        after = Buffer.from(cursor, 'base64url').toString()
        if (!isId(after)) throw new ValidationError('cursor is not one this service gave out')
      }
      const rows = await prisma.user.findMany({
        where: after !== undefined ? { id: { gt: after } } : {},
        orderBy: { id: 'asc' },
        take: take + 1,
        include: userWithRoles
      })
      const page = rows.slice(0, take)
      return {
        users: page.map((u) => ({ id: u.id, username: u.username, roles: u.roles.map((r) => r.roleName), disabled: u.disabled, createdAt: u.createdAt.toISOString() })),
        nextCursor: rows.length > take ? Buffer.from(page[page.length - 1].id).toString('base64url') : null
      }
    },
    /** Replaces the roles; the user's current access tokens stop at once, a refresh carries the new roles. */
    async setRoles (id: string, roles: string[]): Promise<AccountUser> {
      const unknown = roles.filter((r) => !(ROLES as readonly string[]).includes(r))
      if (unknown.length > 0) throw new ValidationError(`unknown role: ${unknown.join(', ')}`)
      const user = await get(id)
      const next = [...new Set(roles)].sort()
      if (!next.includes('admin')) await assertNotLastAdmin(user)
      await prisma.$transaction([
        prisma.userRole.deleteMany({ where: { userId: id } }),
        prisma.userRole.createMany({ data: next.map((roleName) => ({ userId: id, roleName })) })
      ])
      await userRevocation.revokeAll(id, { endSessions: false, reason: 'role-change' })
      return { ...user, roles: next }
    },
    async setDisabled (id: string, disabled: boolean): Promise<AccountUser> {
      const user = await get(id)
      if (disabled) await assertNotLastAdmin(user)
      await prisma.user.update({ where: { id }, data: { disabled } })
      if (disabled) await userRevocation.revokeAll(id, { endSessions: true, reason: 'disabled' })
      return { ...user, disabled }
    },
    async endSessions (id: string): Promise<void> {
      await get(id)
      await userRevocation.revokeAll(id, { endSessions: true, reason: 'admin-logout' })
    }
  }
}

export type UserAdmin = ReturnType<typeof createUserAdmin>
