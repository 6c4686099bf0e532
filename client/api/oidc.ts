// Signing in with an OpenID Connect provider (docs/api.md, "Sign in with an
// OpenID Connect provider"): the providers, the browser's round trip
// (startOidc → the provider → the service's callback → back to the app with
// the outcome in the URL's fragment → completeOidc), the login_code a native
// app exchanges, an ID token from a provider's own SDK, and the user's linked
// identities. Linking and unlinking may ask for step-up (../reauth.ts).
import { AuthError, errorOf } from '../transport.ts'
import type { ClientSession } from '../session.ts'
import { json, jsonBody } from '../calls.ts'
import { mfaStep, signedInOrSecondStep } from './mfa.ts'
import type { LinkedIdentity, LoginResult, OidcOutcome, OidcProvider, StartOidcOptions } from '../types.ts'

/** What the service's callback may put in the fragment (anything else is not ours). */
const OUTCOMES = ['login_code', 'mfa_token', 'csrf_token', 'linked', 'error']
/** A second step's life at the service (the fragment does not say). */
const MFA_TOKEN_TTL = 300

const MESSAGES: Record<string, string> = {
  access_denied: 'The sign-in was cancelled at the provider.',
  OIDC_STATE_INVALID: 'This sign-in expired, or was started in another browser. Please try again.',
  OIDC_ID_TOKEN_INVALID: 'The provider\'s answer could not be verified.',
  OIDC_PROVIDER_UNAVAILABLE: 'The provider cannot be reached right now. Please try again later.',
  ACCOUNT_DISABLED: 'This account is disabled.',
  IDENTITY_TAKEN: 'That identity is already linked to another account.'
}

interface Win { location: { href: string, pathname: string, search: string, assign (url: string): void }, history?: { state: unknown, replaceState (data: unknown, unused: string, url: string): void } }
const win = (): Win | undefined => (globalThis as { window?: Win }).window

/** This page without its fragment: where the provider's answer comes back by default. */
function thisPage (): string | undefined {
  const href = win()?.location.href
  return href === undefined ? undefined : href.replace(/#.*$/, '')
}

function go (url: string, navigate: boolean | undefined): void {
  const w = win()
  if (navigate !== false && w !== undefined) w.location.assign(url)
}

// A tab remembers that it sent the browser to a provider: a login_code or
// mfa_token in a link someone else made (their own account's: login CSRF)
// is then refused, since this tab started nothing.
function pendingKey (s: ClientSession): string { return `auth-client:oidc-pending:${s.target('/').href}` }
function tabStorage (): Storage | undefined {
  try { return (globalThis as { sessionStorage?: Storage }).sessionStorage } catch { return undefined }
}
function markStarted (s: ClientSession): void {
  try { tabStorage()?.setItem(pendingKey(s), String(Date.now())) } catch {}
}
/** true or false in a browser; undefined where no tab storage exists (the caller vouches for its URL). */
function takeStarted (s: ClientSession): boolean | undefined {
  const storage = tabStorage()
  if (storage === undefined) return undefined
  const at = Number(storage.getItem(pendingKey(s)))
  storage.removeItem(pendingKey(s))
  // The service keeps a transaction 600 s; a marker older than that started nothing still alive.
  return at > 0 && Date.now() - at < 15 * 60_000
}

function headerModeOnly (s: ClientSession, what: string): void {
  // These answers are header-mode sign-ins (a refresh token in the body): a cookie-mode client has nowhere to keep them.
  if (s.mode !== 'header') throw new AuthError(0, 'HEADER_MODE_ONLY', `${what} needs a client in header mode`)
}

export async function oidcProviders (s: ClientSession): Promise<OidcProvider[]> {
  const res = await s.send('/auth/oidc/providers')
  if (!res.ok) throw await errorOf(res)
  return await res.json()
}

// The app's own PKCE (RFC 7636) for the login_code this sign-in may hand
// back: the verifier stays with this client (and this tab), the service keeps
// its S256 challenge, and an app that caught the redirect cannot exchange it.
const verifiers = new WeakMap<ClientSession, string>()
function verifierKey (s: ClientSession): string { return `auth-client:oidc-verifier:${s.target('/').href}` }
function keepVerifier (s: ClientSession, verifier: string): void {
  verifiers.set(s, verifier)
  try { tabStorage()?.setItem(verifierKey(s), verifier) } catch {}
}
function takeVerifier (s: ClientSession): string | undefined {
  let verifier = verifiers.get(s)
  try { verifier ??= tabStorage()?.getItem(verifierKey(s)) ?? undefined; tabStorage()?.removeItem(verifierKey(s)) } catch {}
  verifiers.delete(s)
  return verifier
}
async function pkce (): Promise<{ verifier: string, challenge: string }> {
  const bytes = crypto.getRandomValues(new Uint8Array(32))
  const verifier = base64url(bytes)
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier)))
  return { verifier, challenge: base64url(digest) }
}
function base64url (bytes: Uint8Array): string {
  let bin = ''
  for (const b of bytes) bin += String.fromCharCode(b)
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')
}

/** The URL that starts a sign-in at `name`; with a window (and unless `navigate` is false) the browser goes there. */
export async function startOidc (s: ClientSession, name: string, options: StartOidcOptions = {}): Promise<string> {
  const url = s.target(`/auth/oidc/${encodeURIComponent(name)}/start`)
  const returnTo = options.returnTo ?? thisPage()
  if (returnTo !== undefined) url.searchParams.set('return_to', returnTo)
  url.searchParams.set('mode', options.mode ?? s.mode)
  const { verifier, challenge } = await pkce()
  url.searchParams.set('code_challenge', challenge)
  url.searchParams.set('code_challenge_method', 'S256')
  keepVerifier(s, verifier)
  markStarted(s)
  go(url.href, options.navigate)
  return url.href
}

/**
 * Back from the provider: the outcome in `url`'s fragment (default: this
 * page's, then removed from the address bar so that a reload, a bookmark or
 * a shared link does not carry it). `null`: no outcome there.
 */
export async function completeOidc (s: ClientSession, url?: string): Promise<OidcOutcome> {
  const href = url ?? win()?.location.href
  if (href === undefined) throw new TypeError('completeOidc needs the URL the app was sent back to (there is no window here)')
  const hash = new URL(href).hash
  const params = new URLSearchParams(hash.slice(1))
  if (!OUTCOMES.some((k) => params.has(k))) return null
  const w = win()
  if (url === undefined && w?.history !== undefined) w.history.replaceState(w.history.state, '', w.location.pathname + w.location.search)
  const started = takeStarted(s)

  const error = params.get('error')
  if (error !== null) {
    const code = /^[A-Za-z0-9_]{1,64}$/.test(error) ? error : 'OIDC_FAILED'
    throw new AuthError(0, code, MESSAGES[code] ?? 'The sign-in with the provider failed.')
  }
  const linked = params.get('linked')
  if (linked !== null) return { linked }
  const csrf = params.get('csrf_token')
  if (csrf !== null) {
    // The callback already set the session's cookies (they are what signs in, not this value).
    if (s.mode !== 'cookie') throw new AuthError(0, 'OIDC_MODE_MISMATCH', 'this sign-in was started in cookie mode, and this client is in header mode')
    return await s.signedInByCallback(csrf)
  }
  if (started === false) throw new AuthError(0, 'OIDC_NOT_STARTED', 'This tab started no sign-in with a provider: the link was not yours. Nothing was done.')
  const mfaToken = params.get('mfa_token')
  if (mfaToken !== null) return mfaStep(s, { mfa_token: mfaToken, methods: ['totp', 'recovery_code'], expires_in: MFA_TOKEN_TTL })
  return await exchangeOidcLoginCode(s, params.get('login_code') ?? '', takeVerifier(s))
}

/**
 * Back with `#login_code=…`: a native app from the system browser, or a
 * cookie-mode SPA on another site (the service sets the cookies in this
 * answer, under the SPA's own partition). The session (bound to the DPoP key
 * when DPoP is on), or the second step.
 */
export async function exchangeOidcLoginCode (s: ClientSession, loginCode: string, codeVerifier?: string): Promise<LoginResult> {
  // The exchange answers in header mode unless asked for cookies.
  const headers = s.mode === 'cookie' ? { 'x-auth-mode': 'cookie' } : undefined
  const json = codeVerifier === undefined ? { login_code: loginCode } : { login_code: loginCode, code_verifier: codeVerifier }
  return await signedInOrSecondStep(s, await s.send('/auth/oidc/exchange', s.tokenEndpoint({ method: 'POST', json, headers })))
}

/** A native app that signed in with the provider's own SDK (Google, Apple): its ID token, and the nonce it asked for. */
export async function signInWithIdToken (s: ClientSession, name: string, idToken: string, nonce?: string): Promise<LoginResult> {
  headerModeOnly(s, 'signInWithIdToken')
  const body = nonce === undefined ? { id_token: idToken } : { id_token: idToken, nonce }
  return await signedInOrSecondStep(s, await s.send(`/auth/oidc/${encodeURIComponent(name)}/id-token`, s.tokenEndpoint({ method: 'POST', json: body })))
}

/**
 * Links an identity at `name` to the signed-in user: the service answers the
 * provider's URL (after step-up, if asked) and sets a cookie binding it to
 * this browser, so this works where fetch and navigation share cookies (a
 * browser app in cookie mode). Back at `returnTo` with `#linked=<name>`.
 */
export async function linkIdentity (s: ClientSession, name: string, returnTo?: string, options: { navigate?: boolean } = {}): Promise<string> {
  const target = returnTo ?? thisPage()
  if (target === undefined) throw new TypeError('linkIdentity needs a returnTo outside a browser')
  const { url } = await json<{ url: string }>(s, `/auth/oidc/${encodeURIComponent(name)}/link`, jsonBody('POST', { return_to: target }))
  markStarted(s)
  go(url, options.navigate)
  return url
}

export function identities (s: ClientSession): Promise<LinkedIdentity[]> { return json<LinkedIdentity[]>(s, '/auth/identities') }
export function unlinkIdentity (s: ClientSession, id: string): Promise<void> { return json<void>(s, `/auth/identities/${encodeURIComponent(id)}`, { method: 'DELETE' }) }
