// The second step of a password login for a user with TOTP: the password
// step answers with an `mfa_token` (random, stored only as a hash, 300 s,
// one use) instead of a session. Taking the token is atomic, so two
// requests racing with one token cannot both sign in; a wrong code gives
// it back for another try (the per-account limit on wrong codes bounds them).
import { randomBytes } from 'node:crypto'
import { MfaTokenInvalidError } from '../errors.ts'
import { hashToken, TOKEN_SHAPE, type Federation } from '../sessions/sessions.ts'
import type { MfaStore } from './store.ts'

export const MFA_TOKEN_TTL = 300

/** `first`: how the first step signed in (amr), and through which identity and provider session when at a provider. */
export interface TakenMfaToken { tokenHash: string, userId: string, passwordVersion: number, first: FirstStep }
export interface FirstStep { amr: string[], federation?: Federation }

export function createMfaTokens (deps: { store: MfaStore, ttl?: number }) {
  const { store } = deps
  const ttl = deps.ttl ?? MFA_TOKEN_TTL

  return {
    ttl,
    async issue (userId: string, passwordVersion: number, first: FirstStep = { amr: ['pwd'] }): Promise<string> {
      const raw = randomBytes(32).toString('base64url')
      const federation = first.federation
      await store.insertMfaToken({ tokenHash: hashToken(raw), userId, passwordVersion, expiresAt: new Date(Date.now() + ttl * 1000), amr: first.amr, identityId: federation?.identityId ?? null, idpSid: federation?.idpSid ?? null })
      return raw
    },

    /** Takes the token for this attempt, or throws MFA_TOKEN_INVALID (unknown, spent, expired, or taken by a concurrent attempt). */
    async take (raw: string): Promise<TakenMfaToken> {
      if (typeof raw !== 'string' || !TOKEN_SHAPE.test(raw)) throw new MfaTokenInvalidError()
      const tokenHash = hashToken(raw)
      if (!await store.takeMfaToken(tokenHash, new Date())) throw new MfaTokenInvalidError()
      const row = await store.getMfaToken(tokenHash)
      const federation = row.identityId === null ? undefined : { identityId: row.identityId, idpSid: row.idpSid }
      return { tokenHash, userId: row.userId, passwordVersion: row.passwordVersion, first: { amr: row.amr, federation } }
    },

    /** A wrong code: the token may be tried again until it expires. */
    async giveBack (taken: TakenMfaToken): Promise<void> {
      await store.untakeMfaToken(taken.tokenHash)
    },

    /** Every pending second step of the user ends (password changed or reset). */
    async endAll (userId: string): Promise<void> {
      await store.deleteMfaTokensOf(userId)
    },

    async prune (now = Date.now()): Promise<number> {
      return store.pruneMfaTokens(new Date(now))
    }
  }
}

export type MfaTokens = ReturnType<typeof createMfaTokens>
