// Step-up for the client library: a sensitive change (a passkey, TOTP, …)
// answered 401 REAUTH_REQUIRED (the sign-in is too old) or MFA_REQUIRED (the
// session did not use the user's second factor) is not a sign-out. With an
// `onReauthRequired` callback the client asks the app for proof (the user's
// password and code, or a passkey), sends POST /auth/reauthenticate, and
// sends the call again, once. Concurrent calls share one question.
import { AuthError, errorOf } from './transport.ts'
import type { OnReauthRequired, ReauthCredentials, ReauthReason, TokenState } from './types.ts'

export const STEP_UP_CODES: ReadonlySet<string> = new Set(['REAUTH_REQUIRED', 'MFA_REQUIRED'])

export function isStepUpError (err: unknown): err is AuthError {
  return err instanceof AuthError && err.status === 401 && STEP_UP_CODES.has(err.code)
}

/** The body POST /auth/reauthenticate takes for a password proof. */
export function passwordProof (credentials: { password: string, code?: string }): { password: string, code?: string } {
  const code = credentials.code?.trim()
  return code !== undefined && code !== '' ? { password: credentials.password, code } : { password: credentials.password }
}

/** A reauthentication's answer: an access token of the same session (no refresh token, no cookie). */
export function reauthenticatedState (body: { access_token: string, token_type?: string, expires_in: number, user: TokenState['user'] }, now: number): TokenState {
  if (typeof body?.access_token !== 'string') throw new AuthError(0, 'BAD_RESPONSE', 'no access_token in the reauthentication answer')
  return { accessToken: body.access_token, expiresAt: now + body.expires_in * 1000, lifetime: body.expires_in, user: body.user, tokenType: body.token_type === 'DPoP' ? 'DPoP' : 'Bearer' }
}

export class StepUp {
  private ask: OnReauthRequired | undefined
  private prove: (credentials: ReauthCredentials) => Promise<unknown>
  private pending: Promise<boolean> | null = null

  constructor (ask: OnReauthRequired | undefined, prove: (credentials: ReauthCredentials) => Promise<unknown>) {
    this.ask = ask
    this.prove = prove
  }

  /**
   * Sends `call`; a 401 REAUTH_REQUIRED or MFA_REQUIRED asks the app (once
   * for every call waiting at that moment), reauthenticates, and sends the
   * call again, once. Without a callback, or declined, the answer is returned as it is.
   */
  async send (call: () => Promise<Response>): Promise<Response> {
    const res = await call()
    if (this.ask === undefined || res.status !== 401) return res
    const err = await errorOf(res.clone())
    if (!STEP_UP_CODES.has(err.code)) return res
    this.pending ??= this.reauthenticate(err).finally(() => { this.pending = null })
    return await this.pending ? await call() : res
  }

  private async reauthenticate (err: AuthError): Promise<boolean> {
    const credentials = await this.ask!({ code: err.code as ReauthReason, message: err.message })
    if (credentials === null || credentials === undefined) return false
    await this.prove(credentials)
    return true
  }
}
