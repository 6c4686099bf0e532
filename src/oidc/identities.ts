// Who a provider's identity (issuer, sub) is here. A linked identity signs
// its user in. Otherwise a verified email links it to the account that
// verified the same address, only when the provider vouches for it
// (email_verified) and the operator trusts the provider's emails
// (OIDC_<NAME>_TRUST_EMAIL); anything else gets a new account with no
// password. Linking while signed in never takes an identity from another user.
import { randomInt, randomUUID } from 'node:crypto'
import type { IDToken } from 'openid-client'
import type { OidcStore } from './store.ts'
import type { AccountStore } from '../accounts/store.ts'
import type { CheckedUser } from '../accounts/accounts.ts'
import { isUniqueViolation } from '../db/errors.ts'
import { AccountDisabledError, IdentityTakenError, LastSignInMethodError, NotFoundError, OidcIdTokenInvalidError } from '../errors.ts'
import { isId } from '../db/ids.ts'
import type { SessionStore } from '../sessions/store.ts'
import type { Sessions } from '../sessions/sessions.ts'
import { revocationUntil, type RevocationList } from '../revocation/mirror.ts'

export interface ProviderRef { name: string, trustEmail: boolean }

/** What a sign-in at a provider found: the user, the identity, and how the account came to be. */
export interface FederatedUser { user: CheckedUser, identityId: string, outcome: 'signed-in' | 'linked-by-email' | 'created' }

const ATTEMPTS = 5
/** One @, printable ASCII on both sides, no spaces: what may become an account's verified address. */
const ASCII_ADDRESS = /^[\x21-\x3f\x41-\x7e]+@[A-Za-z0-9.-]+$/
/** Stored and shown: no control characters (PostgreSQL refuses a NUL outright). */
const hasControl = (s: string) => { for (let i = 0; i < s.length; i++) { const c = s.charCodeAt(i); if (c < 0x20 || c === 0x7f) return true } return false }

/** The claims we use, checked for shape: a provider's sub is at most 255 characters (OpenID Connect Core 2). */
export function identityClaims (claims: IDToken): { issuer: string, subject: string, email: string | null, emailVerified: boolean, preferredUsername: string | null } {
  const str = (v: unknown, max: number) => typeof v === 'string' && v.length > 0 && v.length <= max && !hasControl(v) ? v : null
  const subject = str(claims.sub, 255)
  const issuer = str(claims.iss, 512)
  if (subject === null || issuer === null) throw new OidcIdTokenInvalidError()
  const email = str(claims.email, 254)
  // Only a plain ASCII address can be verified here: lower-casing a non-ASCII
  // one can turn it into another mailbox's key (U+212A KELVIN SIGN becomes k).
  const plain = email !== null && ASCII_ADDRESS.test(email)
  return { issuer, subject, email, emailVerified: plain && claims.email_verified === true, preferredUsername: str(claims.preferred_username, 256) }
}

/** A username from the provider's preferred_username or the email's local part: our alphabet, 3 to 64 characters. */
export function usernameBase (preferred: string | null, email: string | null): string {
  const raw = preferred ?? email?.split('@')[0] ?? ''
  const clean = raw.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^[-.]+|[-.]+$/g, '').slice(0, 56)
  return clean.length >= 3 ? clean : `user${clean.length > 0 ? `-${clean}` : ''}`
}

export function createIdentities (deps: {
  store: OidcStore
  users: AccountStore
  sessions: Pick<SessionStore, 'endOpenedByIn'>
  /** Ends sessions opened through a provider on every instance (sessions.ts). */
  endOpenedBy: Sessions['endOpenedBy']
  revocations: RevocationList
}) {
  const { store, users, sessions, revocations } = deps

  async function userOf (userId: string): Promise<CheckedUser> {
    const user = await users.findForLoginById(userId)
    if (user === undefined) throw new OidcIdTokenInvalidError()
    if (user.disabled) throw new AccountDisabledError()
    return user
  }

  /** The user a verified ID token signs in (linking or creating as the rules say). */
  async function signIn (provider: ProviderRef, claims: IDToken): Promise<FederatedUser> {
    const c = identityClaims(claims)
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      const linked = await store.findIdentity(c.issuer, c.subject)
      if (linked !== null) {
        await store.touchIdentity(linked.id, c.email, new Date())
        return { user: await userOf(linked.userId), identityId: linked.id, outcome: 'signed-in' }
      }
      const identity = { id: randomUUID(), provider: provider.name, issuer: c.issuer, subject: c.subject, email: c.email, lastUsedAt: new Date() }
      const trusted = c.emailVerified && provider.trustEmail
      try {
        if (trusted) {
          const owner = await users.findForLoginByVerifiedEmail(c.email!.toLowerCase())
          if (owner !== undefined) {
            if (owner.disabled) throw new AccountDisabledError() // nothing linked to a disabled account
            await store.insertIdentity({ ...identity, userId: owner.id })
            return { user: await userOf(owner.id), identityId: identity.id, outcome: 'linked-by-email' }
          }
        }
        const base = usernameBase(c.preferredUsername, c.email)
        const username = attempt === 0 ? base : `${base}-${randomInt(1000, 100000)}`
        const created = await users.insertUserWithIdentity({
          id: randomUUID(),
          username,
          usernameKey: username.toLowerCase(),
          passwordHash: null,
          roles: ['user'],
          // A trusted, verified address is the account's verified address; an unverified one is not kept on the account.
          ...(trusted ? { email: c.email!, verifiedEmailKey: c.email!.toLowerCase() } : {})
        }, identity)
        return { user: await userOf(created.id), identityId: identity.id, outcome: 'created' }
      } catch (err) {
        // The identity was linked by a concurrent callback, the name or the address taken meanwhile: look again.
        if (!isUniqueViolation(err)) throw err
      }
    }
    throw new OidcIdTokenInvalidError()
  }

  /** Links the identity to the signed-in user; IDENTITY_TAKEN if it signs in to another account. */
  async function link (userId: string, provider: ProviderRef, claims: IDToken): Promise<{ identityId: string, created: boolean }> {
    const c = identityClaims(claims)
    await userOf(userId)
    for (let attempt = 0; attempt < 2; attempt++) {
      const linked = await store.findIdentity(c.issuer, c.subject)
      if (linked !== null) {
        if (linked.userId !== userId) throw new IdentityTakenError()
        await store.touchIdentity(linked.id, c.email, new Date())
        return { identityId: linked.id, created: false }
      }
      const id = randomUUID()
      try {
        await store.insertIdentity({ id, userId, provider: provider.name, issuer: c.issuer, subject: c.subject, email: c.email, lastUsedAt: new Date() })
        return { identityId: id, created: true }
      } catch (err) {
        if (!isUniqueViolation(err)) throw err
      }
    }
    throw new IdentityTakenError()
  }

  async function list (userId: string) {
    return (await store.listIdentities(userId)).map((i) => ({ id: i.id, provider: i.provider, email: i.email, linkedAt: i.createdAt.toISOString() }))
  }

  /**
   * Unlinks; 404 for an identity that is not the user's, LAST_SIGN_IN_METHOD
   * when it is their last way in. The sessions it opened end with it (but
   * the caller's own): an identity is often unlinked because it was lost.
   */
  async function unlink (userId: string, identityId: string, callerSession: string): Promise<string[]> {
    if (!isId(identityId)) throw new NotFoundError('No such identity')
    const { result, ended } = await store.deleteIdentityUnlessLast(userId, identityId, (tx) => sessions.endOpenedByIn(tx, identityId, 'identity-unlinked', callerSession))
    if (result === 'unknown') throw new NotFoundError('No such identity')
    if (result === 'last') throw new LastSignInMethodError()
    const until = revocationUntil(Date.now())
    await Promise.all(ended.map((sid) => revocations.revokeSession(sid, until)))
    return ended
  }

  /**
   * A provider's back-channel logout: the sessions opened through its
   * session `sid`, or (sub alone) every session the identity opened. A sub
   * we never linked ends nothing.
   */
  async function logout (named: { issuer: string, sub?: string, sid?: string }): Promise<string[]> {
    const identity = named.sub !== undefined ? await store.findIdentity(named.issuer, named.sub) : null
    if (named.sub !== undefined && identity === null) return []
    // What is still in flight first (a login_code, a second step), then the sessions.
    await store.endPendingSignIns({ issuer: named.issuer, identityId: identity?.id, idpSid: named.sid })
    if (named.sid !== undefined) return await deps.endOpenedBy({ identityId: identity?.id, issuer: named.issuer, idpSid: named.sid }, 'backchannel-logout')
    return await deps.endOpenedBy({ identityId: identity!.id }, 'backchannel-logout')
  }

  return { signIn, link, list, unlink, logout, userOf }
}

export type Identities = ReturnType<typeof createIdentities>
