// Proving the user again (POST /auth/reauthenticate) before a sensitive
// change: the same session, its sign-in now. REAUTH_REQUIRED and
// MFA_REQUIRED are never a sign-out; with `onReauthRequired` the library's
// own calls ask the app and send the call again once (../reauth.ts).
import { errorOf } from '../transport.ts'
import { passkeyAssertion } from '../webauthn.ts'
import { passwordProof } from '../reauth.ts'
import type { ClientSession } from '../session.ts'
import { authFetch, jsonBody } from '../calls.ts'
import type { User } from '../types.ts'

/** A new access token of this session (same binding), its sign-in now; every tab gets it. */
async function reauthWith (s: ClientSession, body: object): Promise<User> {
  const res = await authFetch(s, '/auth/reauthenticate', jsonBody('POST', body))
  if (!res.ok) throw await errorOf(res)
  return s.reauthenticated(await res.json())
}

export function reauthenticate (s: ClientSession, credentials: { password: string, code?: string }): Promise<User> {
  return reauthWith(s, passwordProof(credentials))
}

export async function reauthenticateWithPasskey (s: ClientSession, username?: string): Promise<User> {
  return reauthWith(s, { passkey: await passkeyAssertion((path, init) => s.send(path, init), username) })
}
