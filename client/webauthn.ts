// WebAuthn in the browser for the client library: the service's JSON options
// (base64url strings) to the ArrayBuffers navigator.credentials wants, and a
// credential back to the JSON the service verifies. No dependency.
import { AuthError, errorOf } from './transport.ts'

type Json = Record<string, any>

function fromB64u (s: string): ArrayBuffer {
  const b64 = s.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (s.length % 4)) % 4)
  const bin = atob(b64)
  const out = new Uint8Array(bin.length)
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i)
  return out.buffer
}

function toB64u (buf: ArrayBuffer): string {
  const bytes = new Uint8Array(buf)
  let bin = ''
  for (let i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i])
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')
}

const descriptors = (list: Json[] | undefined) => (list ?? []).map((c) => ({ ...c, type: 'public-key' as const, id: fromB64u(c.id) }))

export function webauthnAvailable (): boolean {
  return typeof navigator !== 'undefined' && typeof navigator.credentials?.create === 'function' && typeof (globalThis as { PublicKeyCredential?: unknown }).PublicKeyCredential !== 'undefined'
}

export function creationOptions (json: Json): PublicKeyCredentialCreationOptions {
  return { ...json, challenge: fromB64u(json.challenge), user: { ...json.user, id: fromB64u(json.user.id) }, excludeCredentials: descriptors(json.excludeCredentials) } as PublicKeyCredentialCreationOptions
}

export function requestOptions (json: Json): PublicKeyCredentialRequestOptions {
  const options: Json = { ...json, challenge: fromB64u(json.challenge) }
  if (json.allowCredentials !== undefined) options.allowCredentials = descriptors(json.allowCredentials)
  return options as PublicKeyCredentialRequestOptions
}

/** A credential from navigator.credentials.create or .get, as the JSON the service verifies. */
export function credentialJson (credential: PublicKeyCredential): Json {
  const r = credential.response
  const response: Json = { clientDataJSON: toB64u(r.clientDataJSON) }
  if ('attestationObject' in r) {
    const attestation = r as AuthenticatorAttestationResponse
    response.attestationObject = toB64u(attestation.attestationObject)
    response.transports = typeof attestation.getTransports === 'function' ? attestation.getTransports() : []
  } else {
    const assertion = r as AuthenticatorAssertionResponse
    response.authenticatorData = toB64u(assertion.authenticatorData)
    response.signature = toB64u(assertion.signature)
    if (assertion.userHandle !== null) response.userHandle = toB64u(assertion.userHandle)
  }
  return {
    id: credential.id,
    rawId: toB64u(credential.rawId),
    type: credential.type,
    response,
    clientExtensionResults: credential.getClientExtensionResults(),
    ...(credential.authenticatorAttachment !== null ? { authenticatorAttachment: credential.authenticatorAttachment } : {})
  }
}

/** A passkey's assertion for the service's sign-in options (a sign-in, or a reauthentication): navigator.credentials.get, as JSON. */
export async function passkeyAssertion (send: (path: string, init: { method: string, json: unknown }) => Promise<Response>, username?: string): Promise<Json> {
  if (!webauthnAvailable()) throw new AuthError(0, 'WEBAUTHN_UNAVAILABLE', 'passkeys need a browser with WebAuthn')
  const res = await send('/auth/passkeys/authentication/options', { method: 'POST', json: username === undefined ? {} : { username } })
  if (!res.ok) throw await errorOf(res)
  const credential = await navigator.credentials.get({ publicKey: requestOptions(await res.json()) }) as PublicKeyCredential | null
  if (credential === null) throw new AuthError(0, 'PASSKEY_CANCELLED', 'no passkey was chosen')
  return credentialJson(credential)
}
