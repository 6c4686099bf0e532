// The one-time code a header-mode sign-in hands the app in the return_to
// fragment (a mobile app's system browser), exchanged for tokens at
// POST /auth/oidc/exchange: random, stored as a hash, 60 s, one use. The
// session opens at the exchange, so a DPoP proof sent there binds it. An
// app that sent its own PKCE challenge at the start must show the verifier:
// another app that registered the same scheme and caught the redirect
// (RFC 8252 section 8.1) holds a code it cannot use.
import { randomBytes } from 'node:crypto'
import type { OidcStore } from './store.ts'
import { hashToken, TOKEN_SHAPE, type Federation } from '../sessions/sessions.ts'
import { OidcLoginCodeInvalidError } from '../errors.ts'

export const LOGIN_CODE_TTL = 60

export function createLoginCodes (deps: { store: OidcStore }) {
  const { store } = deps
  return {
    async issue (user: { id: string, passwordVersion: number }, federation: Federation & { idpSid: string | null }, appChallenge: string | null): Promise<string> {
      const raw = randomBytes(32).toString('base64url')
      await store.insertLoginCode({
        codeHash: hashToken(raw),
        userId: user.id,
        passwordVersion: user.passwordVersion,
        identityId: federation.identityId,
        idpSid: federation.idpSid,
        appChallenge,
        expiresAt: new Date(Date.now() + LOGIN_CODE_TTL * 1000)
      })
      return raw
    },

    /**
     * Spends the code (one caller wins), or OIDC_LOGIN_CODE_INVALID: unknown,
     * spent, expired, or a wrong or missing verifier alike. A wrong verifier
     * spends nothing (the app that holds the right one can still use it).
     */
    async take (raw: unknown, verifier?: string): Promise<{ userId: string, passwordVersion: number, federation: Federation }> {
      if (typeof raw !== 'string' || !TOKEN_SHAPE.test(raw)) throw new OidcLoginCodeInvalidError()
      // The S256 challenge (RFC 7636): the verifier's SHA-256, base64url.
      const challenge = verifier === undefined ? null : hashToken(verifier)
      const row = await store.takeLoginCode(hashToken(raw), challenge, new Date())
      if (row === undefined) throw new OidcLoginCodeInvalidError()
      return { userId: row.userId, passwordVersion: row.passwordVersion, federation: { identityId: row.identityId, idpSid: row.idpSid } }
    }
  }
}

export type LoginCodes = ReturnType<typeof createLoginCodes>
