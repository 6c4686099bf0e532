// Passkeys (WebAuthn): signing in with one (no username needed, no second
// step) and the user's own passkeys (/auth/passkeys). They go through
// navigator.credentials (../webauthn.ts). Registering or deleting one may ask
// for step-up (step-up.ts).
import { AuthError } from '../transport.ts'
import { credentialJson, creationOptions, passkeyAssertion, webauthnAvailable } from '../webauthn.ts'
import type { ClientSession } from '../session.ts'
import { json, jsonBody } from '../calls.ts'
import type { Passkey, User } from '../types.ts'

export async function signInWithPasskey (s: ClientSession, username?: string): Promise<User> {
  const response = await passkeyAssertion((path, init) => s.send(path, init), username)
  return s.signedInWith(await s.send('/auth/passkeys/authentication', s.tokenEndpoint({ method: 'POST', json: { response } })))
}

export async function registerPasskey (s: ClientSession, name?: string): Promise<Passkey> {
  if (!webauthnAvailable()) throw new AuthError(0, 'WEBAUTHN_UNAVAILABLE', 'passkeys need a browser with WebAuthn')
  const options = await json<Record<string, unknown>>(s, '/auth/passkeys/registration/options', { method: 'POST' })
  const credential = await navigator.credentials.create({ publicKey: creationOptions(options) }) as PublicKeyCredential | null
  if (credential === null) throw new AuthError(0, 'PASSKEY_CANCELLED', 'no passkey was created')
  return json<Passkey>(s, '/auth/passkeys/registration', jsonBody('POST', { response: credentialJson(credential), ...(name !== undefined && name !== '' ? { name } : {}) }))
}

export function passkeys (s: ClientSession): Promise<Passkey[]> { return json<Passkey[]>(s, '/auth/passkeys') }
export function renamePasskey (s: ClientSession, id: string, name: string): Promise<Passkey> { return json<Passkey>(s, `/auth/passkeys/${encodeURIComponent(id)}`, jsonBody('PATCH', { name })) }
export function deletePasskey (s: ClientSession, id: string): Promise<void> { return json<void>(s, `/auth/passkeys/${encodeURIComponent(id)}`, { method: 'DELETE' }) }
