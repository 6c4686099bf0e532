// TOTP: a password login's second step (POST /auth/login/mfa), and the
// user's own TOTP and recovery codes (/auth/mfa). A login of a user with TOTP
// resolves with an `MfaRequired` step instead of the user: `complete(code)`
// finishes it. Starting or removing TOTP may ask for step-up (step-up.ts).
import { errorOf } from '../transport.ts'
import type { ClientSession } from '../session.ts'
import { json, jsonBody } from '../calls.ts'
import type { LoginResult, MfaRequired, MfaStatus } from '../types.ts'

export function isMfaRequired (result: LoginResult): result is MfaRequired {
  return (result as MfaRequired).mfaRequired === true
}

/** A login's answer that asks for the second step: a code completes it, signed in. */
export function mfaStep (s: ClientSession, body: { mfa_token: string, methods: string[], expires_in: number }): MfaRequired {
  const mfaToken: string = body.mfa_token
  return {
    mfaRequired: true,
    methods: body.methods,
    expiresIn: body.expires_in,
    complete: async (code: string) => s.signedInWith(await s.send('/auth/login/mfa', s.tokenEndpoint({ method: 'POST', json: { mfa_token: mfaToken, code: code.trim() } })))
  }
}

/** A sign-in's answer (a login, a provider's login_code or ID token): signed in, or the second step. */
export async function signedInOrSecondStep (s: ClientSession, res: Response): Promise<LoginResult> {
  if (!res.ok) throw await errorOf(res)
  const body = await res.clone().json()
  return body.mfa_required === true ? mfaStep(s, body) : await s.signedInWith(res)
}

export function mfaStatus (s: ClientSession): Promise<MfaStatus> { return json<MfaStatus>(s, '/auth/mfa') }

export async function enrollTotp (s: ClientSession): Promise<{ secret: string, otpauthUri: string }> {
  const body = await json<{ secret: string, otpauth_uri: string }>(s, '/auth/mfa/totp', { method: 'POST' })
  return { secret: body.secret, otpauthUri: body.otpauth_uri }
}

export async function confirmTotp (s: ClientSession, code: string): Promise<string[]> {
  return (await json<{ recovery_codes: string[] }>(s, '/auth/mfa/totp/confirm', jsonBody('POST', { code: code.trim() }))).recovery_codes
}

export function disableTotp (s: ClientSession, code: string): Promise<void> { return json<void>(s, '/auth/mfa/totp', jsonBody('DELETE', { code: code.trim() })) }
