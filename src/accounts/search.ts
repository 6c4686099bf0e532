// The admin console's user search: a user by id, or usernames containing a
// text. Its own file (not store.ts) only while store.ts is being edited by
// another change; it belongs beside listAfter.
import type { PrismaClient } from '../generated/prisma/client.ts'
import { userWithRoles } from './store.ts'
import { isId } from '../db/ids.ts'

export const SEARCH_MAX = 50

export function createUserSearch (deps: { prisma: PrismaClient }) {
  return async function search (text: string) {
    const q = text.trim().toLowerCase()
    const rows = await deps.prisma.user.findMany({
      where: isId(q) ? { id: q } : { usernameKey: { contains: q } },
      orderBy: { usernameKey: 'asc' },
      take: SEARCH_MAX,
      include: userWithRoles
    })
    return rows.map((u) => ({ id: u.id, username: u.username, roles: u.roles.map((r) => r.roleName), disabled: u.disabled, createdAt: u.createdAt.toISOString() }))
  }
}
