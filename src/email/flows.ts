// The addresses of accounts: a verification link at registration and on a
// change of address (the old address told when the new one is verified),
// and "forgot my password" (a link holding the same one-time reset token an
// admin issues). No answer and no timing tells whether an address or an
// account exists: both paths do the same queries and the same hashing.
import { randomBytes, randomUUID } from 'node:crypto'
import { EmailTakenError, InvalidEmailTokenError } from '../errors.ts'
import { isUniqueViolation } from '../db/errors.ts'
import { hashToken, TOKEN_SHAPE } from '../sessions/sessions.ts'
import type { PasswordStore } from '../passwords/store.ts'
import { addressKey } from './address.ts'
import type { Outbox } from './outbox.ts'
import type { EmailStore, MailableUser } from './store.ts'

/** A verification link lives a day (EmailToken's comment). */
export const VERIFY_TTL = 24 * 3600
/** No user has it: the unknown path's statements touch nothing. */
export const NIL = '00000000-0000-0000-0000-000000000000'

export interface EmailHooks {
  /** A mail was committed to the outbox: the sender on this instance wakes at once. */
  queued?: () => void
}

export function createEmailFlows (deps: {
  store: EmailStore
  outbox: Outbox
  /** The reset tokens of passwords/ (PasswordReset): POST /auth/password/reset spends them. */
  resets: Pick<PasswordStore, 'insertReset' | 'deleteResetsOf'>
  resetTtl: number
  /** What a mailed link starts with (EMAIL_LINK_BASE or PUBLIC_URL). */
  linkBase: string
  hooks: EmailHooks
}) {
  const { store, outbox, hooks } = deps
  const link = (kind: 'verify' | 'reset', token: string) => `${deps.linkBase}#${kind}=${token}`
  const queued = (sent: boolean) => { if (sent) hooks.queued?.() }

  /** A verification mail to `email` for the user, or, when another account verified it, a word to that account's owner. */
  async function sendVerification (user: { id: string, username: string }, email: string, opts: { setUnverified: boolean }): Promise<'sent' | 'in_use' | 'limited'> {
    const key = addressKey(email)
    const raw = randomBytes(32).toString('base64url')
    const outcome = await store.transaction(async (tx) => {
      const owner = await store.userByVerifiedAddressIn(tx, key)
      if (owner !== null && owner.id !== user.id) {
        // Not set, and its owner hears of it; the caller's answer is the same as for a free address.
        return await outbox.enqueue(tx, key, 'in_use', { username: owner.username }) ? 'in_use' : 'limited'
      }
      // The mail first: past the hourly limit nothing changes (an earlier link keeps working).
      if (!await outbox.enqueue(tx, key, 'verify', { username: user.username, address: email, link: link('verify', raw) })) return 'limited'
      if (opts.setUnverified) await store.setUnverified(tx, user.id, email)
      await store.deleteTokensOf(tx, user.id, 'verify')
      await store.insertToken(tx, { id: randomUUID(), userId: user.id, kind: 'verify', tokenHash: hashToken(raw), email, expiresAt: new Date(Date.now() + VERIFY_TTL * 1000) })
      return 'sent'
    })
    queued(outcome !== 'limited')
    return outcome
  }

  return {
    hooks,

    /** POST /auth/register with an email: the account exists already; its address is set (unverified) and a link mailed. */
    registered: (user: { id: string, username: string }, email: string) => sendVerification(user, email, { setUnverified: true }),

    /** PUT /auth/email: the new address gets a link; the current one stays until the link is opened. */
    async requestChange (userId: string, email: string): Promise<'sent' | 'in_use' | 'limited' | 'unchanged'> {
      const user = await store.userById(userId)
      if (user === null) return 'unchanged'
      if (user.emailVerified && user.email !== null && addressKey(user.email) === addressKey(email)) return 'unchanged'
      return await sendVerification(user, email, { setUnverified: !user.emailVerified })
    },

    /**
     * Spends a verification token: the address becomes the user's verified
     * one, and a verified address it replaces is told, in one transaction.
     * INVALID_EMAIL_TOKEN for unknown, spent or expired; EMAIL_TAKEN when
     * another account verified the address meanwhile (nothing changes).
     */
    async verify (raw: string): Promise<{ userId: string, email: string, previous: string | null }> {
      if (!TOKEN_SHAPE.test(raw)) throw new InvalidEmailTokenError()
      try {
        const done = await store.transaction(async (tx) => {
          const token = await store.spendVerifyToken(tx, hashToken(raw))
          if (token === undefined) throw new InvalidEmailTokenError()
          const set = await store.setVerified(tx, token.userId, token.email, addressKey(token.email))
          if (set === null) throw new InvalidEmailTokenError()
          const previous = set.previous !== null && addressKey(set.previous) !== addressKey(token.email) ? set.previous : null
          if (previous !== null) await outbox.enqueue(tx, addressKey(previous), 'changed', { username: set.username, address: token.email })
          return { userId: token.userId, email: token.email, previous }
        })
        queued(done.previous !== null)
        return done
      } catch (err) {
        if (isUniqueViolation(err)) throw new EmailTakenError()
        throw err
      }
    },

    /**
     * POST /auth/password/forgot: a verified address (given, or the
     * account's when a username is given) gets a reset link. The token is a
     * PasswordReset row as an admin's is (replacing an earlier one); no
     * session ends until it is used (anyone may ask for one).
     */
    async forgot (by: { email: string } | { username: string }): Promise<void> {
      const user: MailableUser | null = 'email' in by ? await store.userByVerifiedAddress(addressKey(by.email)) : await store.userByName(by.username.toLowerCase())
      const ok = user !== null && !user.disabled && user.emailVerified && user.email !== null
      const recipient = ok ? addressKey(user.email!) : addressKey('email' in by ? by.email : `${by.username}@unknown.invalid`)
      const raw = randomBytes(32).toString('base64url')
      const tokenHash = hashToken(raw)
      const fields = { username: user?.username ?? '', link: link('reset', raw), minutes: String(Math.round(deps.resetTtl / 60)) }
      if (!ok) {
        // The same statements, rolled back: an unknown address answers in the time a known one does, and gets nothing.
        await store.rehearse(async (tx) => {
          await outbox.enqueue(tx, recipient, 'reset', fields)
          await deps.resets.deleteResetsOf(tx, NIL)
        })
        return
      }
      const sent = await store.transaction(async (tx) => {
        // The mail first: past the hourly limit the link already mailed stays the live one.
        if (!await outbox.enqueue(tx, recipient, 'reset', fields)) return false
        await deps.resets.deleteResetsOf(tx, user.id)
        await deps.resets.insertReset(tx, { tokenHash, userId: user.id, expiresAt: new Date(Date.now() + deps.resetTtl * 1000) })
        return true
      })
      queued(sent)
    }
  }
}

export type EmailFlows = ReturnType<typeof createEmailFlows>
