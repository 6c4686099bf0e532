// The one-time code a header-mode sign-in hands the app in the return_to
// fragment (a mobile app's system browser), exchanged for tokens at
// POST /auth/oidc/exchange: random, stored as a hash, 60 s, one use. The
// session opens at the exchange, so a DPoP proof sent there binds it.
import { randomBytes } from 'node:crypto'
import type { OidcStore } from './store.ts'
import { hashToken, TOKEN_SHAPE, type Federation } from '../sessions/sessions.ts'
import { OidcLoginCodeInvalidError } from '../errors.ts'

export const LOGIN_CODE_TTL = 60

export function createLoginCodes (deps: { store: OidcStore }) {
  const { store } = deps
  return {
    async issue (user: { id: string, passwordVersion: number }, federation: Federation & { idpSid: string | null }): Promise<string> {
      const raw = randomBytes(32).toString('base64url')
      await store.insertLoginCode({
        codeHash: hashToken(raw),
        userId: user.id,
        passwordVersion: user.passwordVersion,
        identityId: federation.identityId,
        idpSid: federation.idpSid,
        expiresAt: new Date(Date.now() + LOGIN_CODE_TTL * 1000)
      })
      return raw
    },

    /** Spends the code (one caller wins), or OIDC_LOGIN_CODE_INVALID: unknown, spent or expired alike. */
    async take (raw: unknown): Promise<{ userId: string, passwordVersion: number, federation: Federation }> {
      if (typeof raw !== 'string' || !TOKEN_SHAPE.test(raw)) throw new OidcLoginCodeInvalidError()
      const row = await store.takeLoginCode(hashToken(raw), new Date())
      if (row === undefined) throw new OidcLoginCodeInvalidError()
      return { userId: row.userId, passwordVersion: row.passwordVersion, federation: { identityId: row.identityId, idpSid: row.idpSid } }
    }
  }
}

export type LoginCodes = ReturnType<typeof createLoginCodes>
