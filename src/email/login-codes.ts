// Sign-in with a code mailed to a verified address: 6 digits, 600 s, one use,
// one live code per user (a new one replaces it), dead after 5 wrong tries.
// The route counts wrong codes per address as well (429 after 5), for
// unknown addresses too: the limit says nothing about who exists.
import { createHash, randomInt, randomUUID } from 'node:crypto'
import { InvalidCredentialsError } from '../errors.ts'
import type { AccountStore, LoginRow } from '../accounts/store.ts'
import { addressKey } from './address.ts'
import { NIL, type EmailHooks } from './flows.ts'
import type { Outbox } from './outbox.ts'
import type { EmailStore } from './store.ts'

export const LOGIN_CODE_TTL = 600
export const LOGIN_CODE_MAX_ATTEMPTS = 5
export const LOGIN_CODE_PATTERN = '^[0-9]{6}$'

// Bound to the user: a code's hash is worth nothing for another account.
const codeHash = (userId: string, code: string) => createHash('sha256').update(`${userId}:${code}`).digest('base64url')

export function createEmailLoginCodes (deps: { store: EmailStore, users: Pick<AccountStore, 'findForLoginByVerifiedEmail'>, outbox: Outbox, hooks: EmailHooks }) {
  const { store, outbox } = deps

  return {
    ttl: LOGIN_CODE_TTL,

    /** Mails a code to a verified address of an enabled account; any other address costs the same and gets nothing. */
    async request (email: string): Promise<void> {
      const key = addressKey(email)
      const user = await store.userByVerifiedAddress(key)
      const code = String(randomInt(0, 1_000_000)).padStart(6, '0')
      const fields = { username: user?.username ?? '', code, minutes: String(LOGIN_CODE_TTL / 60) }
      const hash = codeHash(user?.id ?? '', code)
      if (user === null || user.disabled) {
        // The same statements, rolled back: an unknown address costs what a known one does, and gets nothing.
        await store.rehearse(async (tx) => {
          await outbox.enqueue(tx, key, 'login_code', fields)
          await store.deleteTokensOf(tx, NIL, 'login')
        })
        return
      }
      const sent = await store.transaction(async (tx) => {
        if (!await outbox.enqueue(tx, key, 'login_code', fields)) return false
        await store.deleteTokensOf(tx, user.id, 'login')
        await store.insertToken(tx, { id: randomUUID(), userId: user.id, kind: 'login', tokenHash: hash, email: user.email ?? email, expiresAt: new Date(Date.now() + LOGIN_CODE_TTL * 1000) })
        return true
      })
      if (sent) deps.hooks.queued?.()
    },

    /** The user a right code signs in; INVALID_CREDENTIALS for an unknown address, a wrong, spent or expired code, a disabled account. */
    async signIn (email: string, code: string): Promise<LoginRow> {
      const user = await deps.users.findForLoginByVerifiedEmail(addressKey(email))
      const hash = codeHash(user?.id ?? '', code)
      if (user === undefined || user.disabled) throw new InvalidCredentialsError()
      if (!await store.spendLoginCode(user.id, hash, LOGIN_CODE_MAX_ATTEMPTS)) {
        await store.countWrongCode(user.id)
        throw new InvalidCredentialsError()
      }
      return user
    }
  }
}

export type EmailLoginCodes = ReturnType<typeof createEmailLoginCodes>
