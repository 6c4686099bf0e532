// Registration, credential checks and the admin bootstrap. No Fastify here.
import { randomUUID } from 'node:crypto'
import { InvalidCredentialsError, PasswordTooCommonError, UsernameTakenError, ValidationError } from '../errors.ts'
import { isUniqueViolation } from '../db/errors.ts'
import type { AccountStore } from './store.ts'
import type { PasswordHasher } from '../passwords/hasher.ts'
import { isCommonPassword, passwordLength, PASSWORD_MAX, PASSWORD_MIN } from '../passwords/policy.ts'

export const USERNAME_PATTERN = '^[A-Za-z0-9._-]{3,64}$'
const usernameRe = new RegExp(USERNAME_PATTERN)

/** A user as the token path sees them: `tokenVersion` goes into every access token (claim `ver`). */
export interface AccountUser { id: string, username: string, roles: string[], disabled: boolean, tokenVersion: number, email?: string | null, emailVerified?: boolean }
/**
 * A user whose password was just checked: `passwordVersion` as read with it
 * (a session opens only if no password change came between), `totp` whether
 * a password login needs a second step.
 */
export type CheckedUser = AccountUser & { passwordHash: string | null, passwordVersion: number, totp: boolean }

export function toAccountUser (u: { id: string, username: string, disabled: boolean, tokenVersion: number, roles: Array<{ roleName: string }> }): AccountUser {
  return { id: u.id, username: u.username, disabled: u.disabled, tokenVersion: u.tokenVersion, roles: u.roles.map((r) => r.roleName) }
}

export function checkPassword (password: string): void {
  const n = passwordLength(password)
  if (n < PASSWORD_MIN || n > PASSWORD_MAX) throw new ValidationError(`password must be ${PASSWORD_MIN} to ${PASSWORD_MAX} characters`)
  if (isCommonPassword(password)) throw new PasswordTooCommonError()
}

export function createAccounts (deps: { store: AccountStore, hasher: PasswordHasher }) {
  const { store, hasher } = deps

  async function register (username: string, password: string, roles: string[] = ['user']): Promise<AccountUser> {
    if (!usernameRe.test(username)) throw new ValidationError('username must be 3 to 64 letters, digits, ".", "_" or "-"')
    checkPassword(password)
    const key = username.toLowerCase()
    // Cheap early answer; the unique index is what actually decides.
    if (await store.usernameTaken(key)) throw new UsernameTakenError()
    const passwordHash = await hasher.hash(password)
    try {
      const user = await store.insertUser({ id: randomUUID(), username, usernameKey: key, passwordHash, roles })
      return toAccountUser(user)
    } catch (err) {
      if (isUniqueViolation(err)) throw new UsernameTakenError()
      throw err
    }
  }

  /**
   * Same error, and one full bcrypt comparison, for an unknown user, a wrong
   * password and a disabled account. The user comes back with the hash that
   * was checked, so that opening the session can tell if it changed since.
   */
  async function authenticate (username: string, password: string): Promise<CheckedUser> {
    const user = usernameRe.test(username)
      ? await store.findForLogin(username.toLowerCase())
      : undefined
    // No such user, or no password (signs in with a provider): the same comparison's cost, the same answer.
    if (user === undefined || user.passwordHash === null) {
      await hasher.verifyNothing(password)
      throw new InvalidCredentialsError()
    }
    const ok = await hasher.verify(password, user.passwordHash)
    if (!ok || user.disabled) throw new InvalidCredentialsError()
    return user
  }

  /** The user as stored now, if a login checked against `checked` still stands (same password, enabled). */
  async function reread (checked: { id: string, passwordVersion: number }): Promise<CheckedUser | undefined> {
    const now = await store.findForLoginById(checked.id)
    return now !== undefined && !now.disabled && now.passwordVersion === checked.passwordVersion ? now : undefined
  }

  /** The user by id, with what a login reads (the second step of a login, a passkey login, a password change). */
  async function byId (id: string): Promise<CheckedUser | undefined> {
    return await store.findForLoginById(id)
  }

  /**
   * After a successful login: a hash made at another cost than BCRYPT_COST
   * is made again at it. A re-hash is not a password change (the version
   * stays), and it replaces only the hash that was checked.
   */
  async function rehashIfNeeded (user: CheckedUser, password: string): Promise<boolean> {
    if (user.passwordHash === null || !hasher.needsRehash(user.passwordHash)) return false
    const fresh = await hasher.hash(password)
    return await store.replaceHash(user.id, user.passwordHash, fresh)
  }

  /** Comparisons cost at least what the dearest stored hash costs (no timing oracle after BCRYPT_COST changes). */
  async function raiseCostToStored (): Promise<number> {
    const cost = await store.maxStoredCost()
    if (typeof cost === 'number') hasher.raiseCost(cost)
    return hasher.targetCost()
  }

  /**
   * ADMIN_USERNAME / ADMIN_PASSWORD: creates that admin when no account has
   * the name. Never promotes or changes an existing account: whoever
   * registered the name first would otherwise become admin, with a password
   * the operator does not know. A name held by a non-admin stops start-up.
   */
  async function ensureAdmin (username: string, password: string): Promise<'created' | 'exists'> {
    const key = username.toLowerCase()
    const existingAdmin = async (): Promise<'exists'> => {
      const user = await store.findByUsername(key)
      if (user !== null && user.roles.some((r) => r.roleName === 'admin')) return 'exists'
      throw new BootstrapAdminError(`ADMIN_USERNAME=${username}: an account of that name exists and is not an admin; it is never promoted at start-up. Choose another name, or grant the role on purpose (npm run admin -- grant ${username} admin)`)
    }
    if (await store.usernameTaken(key)) return existingAdmin()
    // The operator's choice of password is not checked against the common list: only its length.
    const n = passwordLength(password)
    if (n < PASSWORD_MIN || n > PASSWORD_MAX) throw new BootstrapAdminError(`ADMIN_PASSWORD must be ${PASSWORD_MIN} to ${PASSWORD_MAX} characters`)
    try {
      await store.insertUserOnly({ id: randomUUID(), username, usernameKey: key, passwordHash: await hasher.hash(password), roles: ['user', 'admin'] })
      return 'created'
    } catch (err) {
      if (!isUniqueViolation(err)) throw err
      return existingAdmin() // another instance (or a registration) took the name just now
    }
  }

  return { register, authenticate, reread, byId, rehashIfNeeded, raiseCostToStored, ensureAdmin }
}

export type Accounts = ReturnType<typeof createAccounts>

/** The bootstrap admin cannot be had as configured: start-up stops with this sentence. */
export class BootstrapAdminError extends Error {}
