// Passwords over an account's life: the user changes theirs (every other
// session ends at once, the calling one stays), an operator issues a
// one-time reset token (every session ends), and the token sets a new one.
import { randomBytes } from 'node:crypto'
import { InvalidCredentialsError, InvalidResetTokenError, NotFoundError, PasswordUnchangedError, ValidationError } from '../errors.ts'
import { checkPassword, type Accounts } from '../accounts/accounts.ts'
import type { PasswordHasher } from './hasher.ts'
import { normalizePassword } from './policy.ts'
import { revocationUntil, type RevocationList } from '../revocation/mirror.ts'
import { hashToken, TOKEN_SHAPE } from '../sessions/sessions.ts'
import type { UserRevocation } from '../revocation/user-revocation.ts'
import type { AccountStore } from '../accounts/store.ts'
import type { MfaStore } from '../mfa/store.ts'
import { assertStepUp, hasSecondFactor, type SecondFactorCounts, type StepUpClaims } from '../mfa/step-up.ts'
import type { PasswordStore } from './store.ts'
import type { SessionStore } from '../sessions/store.ts'
import type { Events } from '../events/recorder.ts'

export function createPasswordLife (deps: {
  store: PasswordStore
  /** A new password ends the user's other sessions, in the same transaction. */
  sessions: Pick<SessionStore, 'endOthersIn'>
  /** The password is a column of User: written through the accounts store. */
  users: Pick<AccountStore, 'setPasswordIfVersion' | 'setPassword'>
  /** Step-up reads the user's second factors; a new password ends the login's second steps in flight. */
  mfa: SecondFactorCounts & Pick<MfaStore, 'deleteMfaTokensOf'>
  accounts: Accounts
  hasher: PasswordHasher
  revocations: RevocationList
  userRevocation: UserRevocation
  resetTtl: number
  /** REAUTH_MAX_AGE: how fresh a session must be to set a first password. */
  reauthMaxAge: number
  /** Each change's security event, stored in its transaction. */
  events?: Pick<Events, 'recordIn'>
}) {
  const { store, users, mfa, accounts, hasher } = deps

  return {
    /**
     * Sets a new password for a signed-in user who knows the current one.
     * INVALID_CREDENTIALS for a wrong current password (the route counts it
     * like a failed login); MFA_REQUIRED when the user has a second factor
     * (TOTP or a passkey) and this session did not use one (the step-up rule,
     * without its freshness: the current password is a fresh proof). Returns
     * the sessions it ended.
     */
    async change (userId: string, sessionId: string, claims: StepUpClaims, current: string | undefined, next: string): Promise<string[]> {
      checkPassword(next)
      const user = await accounts.byId(userId)
      if (user === undefined || user.disabled) throw new InvalidCredentialsError()
      const secondFactor = user.totp || await hasSecondFactor(mfa, userId)
      if (user.passwordHash === null) {
        // A first password (an account of a provider's): no current one to prove, so the full step-up rule, freshness included.
        if (current !== undefined) throw new ValidationError('this account has no password yet: send new_password alone')
        assertStepUp(claims, secondFactor, { maxAge: deps.reauthMaxAge, now: Date.now() })
      } else {
        if (current === undefined) throw new ValidationError('current_password is required')
        assertStepUp({ amr: claims.amr }, secondFactor, { now: Date.now() })
        if (!await hasher.verify(current, user.passwordHash)) throw new InvalidCredentialsError()
        if (normalizePassword(next) === normalizePassword(current)) throw new PasswordUnchangedError()
      }
      const passwordHash = await hasher.hash(next)
      // The user's row is locked first (as every user-wide change does), so a
      // login that checked the old password either opened its session before
      // (and it is ended here) or finds the password version moved and opens none.
      const ended = await store.transaction(async (tx) => {
        if (!await users.setPasswordIfVersion(tx, userId, user.passwordVersion, passwordHash)) return undefined
        const sessions = await deps.sessions.endOthersIn(tx, userId, sessionId)
        await mfa.deleteMfaTokensOf(userId, tx)
        await store.deleteResetsOf(tx, userId)
        await deps.events?.recordIn(tx, { type: 'password_changed', userId, details: { sessionId, endedSessions: sessions.length } })
        return sessions
      })
      // Another change of this password won the race: this one changed nothing.
      if (ended === undefined) throw new InvalidCredentialsError()
      const until = revocationUntil(Date.now())
      await Promise.all(ended.map((sid) => deps.revocations.revokeSession(sid, until)))
      return ended
    },

    /** A one-time reset token for the user (replacing any earlier one); every session of the user ends. */
    async issueReset (userId: string): Promise<{ resetToken: string, expiresIn: number }> {
      const raw = randomBytes(32).toString('base64url')
      const found = await deps.userRevocation.revokeAll(userId, {
        endSessions: true,
        reason: 'password-reset',
        event: { type: 'password_reset_issued' },
        change: async (tx) => {
          await store.deleteResetsOf(tx, userId)
          await mfa.deleteMfaTokensOf(userId, tx)
          await store.insertReset(tx, { tokenHash: hashToken(raw), userId, expiresAt: new Date(Date.now() + deps.resetTtl * 1000) })
        }
      })
      if (!found) throw new NotFoundError('No such user')
      return { resetToken: raw, expiresIn: deps.resetTtl }
    },

    /** Spends a reset token and sets the password; every session of the user ends. INVALID_RESET_TOKEN for unknown, spent or expired. */
    async useReset (raw: string, next: string): Promise<string> {
      checkPassword(next)
      if (!TOKEN_SHAPE.test(raw)) throw new InvalidResetTokenError()
      const tokenHash = hashToken(raw)
      // A cheap look first: no bcrypt work for a token that cannot be used.
      const row = await store.findReset(tokenHash)
      if (row === null || row.usedAt !== null || row.expiresAt.getTime() <= Date.now()) throw new InvalidResetTokenError()
      const passwordHash = await hasher.hash(next)
      const done = await deps.userRevocation.revokeAll(row.userId, {
        endSessions: true,
        reason: 'password-reset',
        // Spent in the same transaction that sets the password: once, and never half.
        before: (tx) => store.spendReset(tx, tokenHash),
        event: { type: 'password_reset' },
        change: async (tx) => {
          await users.setPassword(tx, row.userId, passwordHash)
          await mfa.deleteMfaTokensOf(row.userId, tx)
        }
      })
      if (!done) throw new InvalidResetTokenError()
      return row.userId
    },

    async prune (now = Date.now()): Promise<number> {
      return await store.pruneResets(new Date(now))
    }
  }
}

export type PasswordLife = ReturnType<typeof createPasswordLife>
