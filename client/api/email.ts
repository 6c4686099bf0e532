// Email addresses (docs/api.md "Email addresses"): verifying one from a
// mailed `#verify=` link, changing it (step-up), forgot-password (the mailed
// `#reset=` link then goes to resetPassword, passwords.ts), and signing in
// with a mailed 6-digit code. The signed-out calls answer 202 whether or not
// the address is known: nothing here can tell, and neither can the app.
import { errorOf } from '../transport.ts'
import type { ClientSession } from '../session.ts'
import { json, jsonBody } from '../calls.ts'
import type { LoginResult } from '../types.ts'
import { signedInOrSecondStep } from './mfa.ts'

async function accepted (s: ClientSession, path: string, body: object): Promise<void> {
  const res = await s.send(path, { method: 'POST', json: body })
  if (!res.ok) throw await errorOf(res)
}

/** Opens a verification link's token: the address becomes the account's verified one (409 EMAIL_TAKEN if another account verified it first). */
export async function verifyEmail (s: ClientSession, token: string): Promise<void> {
  const res = await s.send('/auth/email/verify', { method: 'POST', json: { token } })
  if (!res.ok) throw await errorOf(res)
}

/** Signed in, step-up: a link goes to the new address; it replaces the old one (which is told) when opened. */
export async function changeEmail (s: ClientSession, email: string): Promise<void> {
  await json<unknown>(s, '/auth/email', jsonBody('PUT', { email }))
}

/** Mails a reset link to the account's verified address, if there is one. */
export function forgotPassword (s: ClientSession, by: { email: string } | { username: string }): Promise<void> {
  return accepted(s, '/auth/password/forgot', by)
}

/** Mails a sign-in code to a verified address, if it is one. */
export function requestLoginCode (s: ClientSession, email: string): Promise<void> {
  return accepted(s, '/auth/email/login-code', { email })
}

/** Signs in with the mailed code: as login does (a user with TOTP gets the second step). */
export async function loginWithEmailCode (s: ClientSession, email: string, code: string): Promise<LoginResult> {
  return signedInOrSecondStep(s, await s.send('/auth/login/email', s.tokenEndpoint({ method: 'POST', json: { email, code } })))
}

/** The `#verify=` or `#reset=` token of a mailed link (default: this page's), or null. */
export function mailedLinkToken (kind: 'verify' | 'reset', url: string = globalThis.location?.href ?? ''): string | null {
  const hash = url.includes('#') ? url.slice(url.indexOf('#') + 1) : ''
  return new URLSearchParams(hash).get(kind)
}
