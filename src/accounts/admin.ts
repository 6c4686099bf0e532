// Administration of users, shared by the admin routes and the operator's CLI.
import { LastAdminError, NotFoundError, ValidationError } from '../errors.ts'
import { toAccountUser, type AccountUser } from './accounts.ts'
import type { AccountStore } from './store.ts'
import type { MfaStore } from '../mfa/store.ts'
import type { RevokeAllOptions, UserRevocation } from '../revocation/user-revocation.ts'
import { isId } from '../db/ids.ts'

type Tx = Parameters<NonNullable<RevokeAllOptions['change']>>[0]

export const ROLES = ['admin', 'user'] as const
export const PAGE_MAX = 100

export function createUserAdmin (deps: {
  store: AccountStore
  /** The operator's MFA reset ends the user's second factors in its own transaction. */
  mfa: Pick<MfaStore, 'deleteFactorIn' | 'deleteMfaTokensOf'>
  userRevocation: UserRevocation
}) {
  const { store, mfa, userRevocation } = deps

  async function get (id: string): Promise<AccountUser> {
    const user = isId(id) ? await store.findById(id) : null
    if (user === null) throw new NotFoundError('No such user')
    return toAccountUser(user)
  }

  async function byUsername (username: string): Promise<AccountUser> {
    const user = await store.findByUsername(username.toLowerCase())
    if (user === null) throw new NotFoundError(`No user named ${username}`)
    return toAccountUser(user)
  }

  /** Inside the change's transaction: the user may lose the admin role (or be disabled) only if another enabled admin remains. */
  async function assertNotLastAdmin (tx: Tx, id: string): Promise<void> {
    await store.lockAdminSet(tx)
    const user = await store.findByIdIn(tx, id)
    if (user === null || user.disabled || !user.roles.some((r) => r.roleName === 'admin')) return
    if (await store.countOtherEnabledAdmins(tx, id) === 0) throw new LastAdminError()
  }

  /** The change and the end of the user's current tokens, committed together. */
  async function revokeWith (id: string, opts: RevokeAllOptions): Promise<void> {
    if (!isId(id) || !await userRevocation.revokeAll(id, opts)) throw new NotFoundError('No such user')
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
      const rows = await store.listAfter(after, take + 1)
      const page = rows.slice(0, take)
      return {
        users: page.map((u) => ({ id: u.id, username: u.username, roles: u.roles.map((r) => r.roleName), disabled: u.disabled, email: u.email, emailVerified: u.emailVerified, createdAt: u.createdAt.toISOString() })),
        nextCursor: rows.length > take ? Buffer.from(page[page.length - 1].id).toString('base64url') : null
      }
    },
    /** Replaces the roles; the user's current access tokens stop at once, a refresh carries the new roles. */
    async setRoles (id: string, roles: string[]): Promise<AccountUser> {
      const unknown = roles.filter((r) => !(ROLES as readonly string[]).includes(r))
      if (unknown.length > 0) throw new ValidationError(`unknown role: ${unknown.join(', ')}`)
      const next = [...new Set(roles)].sort()
      await revokeWith(id, {
        endSessions: false,
        reason: 'role-change',
        event: { type: 'roles_changed', details: { roles: next } },
        async change (tx) {
          if (!next.includes('admin')) await assertNotLastAdmin(tx, id)
          await store.replaceRolesIn(tx, id, next)
        }
      })
      return get(id)
    },
    /** Disabling ends every session and access token with it; enabling changes nothing else. */
    async setDisabled (id: string, disabled: boolean): Promise<AccountUser> {
      if (!disabled) {
        if (!isId(id) || !await store.enable(id)) throw new NotFoundError('No such user')
        return get(id)
      }
      await revokeWith(id, {
        endSessions: true,
        reason: 'disabled',
        event: { type: 'user_disabled' },
        async change (tx) {
          await assertNotLastAdmin(tx, id)
          await store.disableIn(tx, id)
        }
      })
      return get(id)
    },
    async endSessions (id: string): Promise<void> {
      await revokeWith(id, { endSessions: true, reason: 'admin-logout', event: { type: 'user_logged_out' } })
    },
    /**
     * A user who lost their authenticator: TOTP and its recovery codes go
     * (pending second steps with them), every session ends in the same
     * transaction; the user signs in with the password alone. Passkeys stay:
     * each is a way in of its own, deleted by the user (or with the account).
     */
    async resetMfa (id: string): Promise<void> {
      await revokeWith(id, {
        endSessions: true,
        reason: 'mfa-reset',
        event: { type: 'mfa_reset' },
        async change (tx) {
          await mfa.deleteFactorIn(tx, id)
          await mfa.deleteMfaTokensOf(id, tx)
        }
      })
    }
  }
}

export type UserAdmin = ReturnType<typeof createUserAdmin>
