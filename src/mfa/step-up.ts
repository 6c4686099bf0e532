// Step-up before a sensitive change (how the account signs in): one rule for
// every route that makes one. A user with a second factor must have used one
// in this session, and the session must have signed in (or reauthenticated)
// within REAUTH_MAX_AGE seconds. The rule is pure; the factor lookup beside it.
import type { MfaStore } from './store.ts'
import { MfaRequiredError, ReauthRequiredError } from '../errors.ts'

/** amr values (RFC 8176) that prove a second factor, or a passkey (one on its own), in this session. */
export const STRONG_AMR: ReadonlySet<string> = new Set(['otp', 'hwk', 'swk'])

export interface StepUpClaims { amr?: string[], auth_time?: number }

export type StepUpVerdict = 'ok' | 'MFA_REQUIRED' | 'REAUTH_REQUIRED'

/**
 * What a session may do, by its token's `amr` and `auth_time`. MFA_REQUIRED
 * first: a reauthentication that must include the second factor fixes both.
 * `maxAge` undefined: no freshness asked (the password change, whose current
 * password is itself a fresh proof). A token without `auth_time` is stale.
 */
export function stepUpVerdict (claims: StepUpClaims, hasSecondFactor: boolean, opts: { maxAge?: number, now: number }): StepUpVerdict {
  if (hasSecondFactor && !(claims.amr ?? []).some((a) => STRONG_AMR.has(a))) return 'MFA_REQUIRED'
  if (opts.maxAge === undefined) return 'ok'
  const authTime = claims.auth_time
  if (authTime === undefined || Math.floor(opts.now / 1000) - authTime > opts.maxAge) return 'REAUTH_REQUIRED'
  return 'ok'
}

/** Throws the API's 401 for a verdict other than ok. */
export function assertStepUp (claims: StepUpClaims, hasSecondFactor: boolean, opts: { maxAge?: number, now: number }): void {
  const verdict = stepUpVerdict(claims, hasSecondFactor, opts)
  if (verdict === 'MFA_REQUIRED') throw new MfaRequiredError()
  if (verdict === 'REAUTH_REQUIRED') throw new ReauthRequiredError()
}

export type SecondFactorCounts = Pick<MfaStore, 'countConfirmedFactors' | 'countPasskeys'>

/** Whether the user has a second factor: a confirmed TOTP or at least one passkey. */
export async function hasSecondFactor (store: SecondFactorCounts, userId: string): Promise<boolean> {
  const [totp, passkeys] = await Promise.all([store.countConfirmedFactors(userId), store.countPasskeys(userId)])
  return totp > 0 || passkeys > 0
}

export function createStepUp (deps: { store: SecondFactorCounts, maxAge: number }) {
  return {
    maxAge: deps.maxAge,
    /** Whether the user has a second factor (TOTP or a passkey). */
    hasSecondFactor: (userId: string) => hasSecondFactor(deps.store, userId),
    /** The rule for a sensitive change: a second factor used if the user has one, and a recent sign-in. */
    async check (userId: string, claims: StepUpClaims, now = Date.now()): Promise<void> {
      assertStepUp(claims, await hasSecondFactor(deps.store, userId), { maxAge: deps.maxAge, now })
    }
  }
}

export type StepUp = ReturnType<typeof createStepUp>
