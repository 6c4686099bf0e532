// The browser's round trip through a provider: `start` records a one-time
// transaction (PKCE S256 verifier, state, nonce, where to return, the
// browser that started it) in the database, so that any instance can take
// the callback; `callback` spends it and has openid-client check the
// provider's answer (the RFC 9207 `iss`, the code for tokens with the PKCE
// verifier, the ID token's signature, issuer, audience, expiry and nonce).
// Nothing secret travels in a URL query: the state is a handle, the code is
// the provider's and good once, and our own one-time codes go in fragments.
import { randomBytes } from 'node:crypto'
import * as client from 'openid-client'
import type { OidcStore, Transaction } from './store.ts'
import { hashToken } from '../sessions/sessions.ts'
import type { Provider, Providers } from './providers.ts'
import { OidcStateInvalidError, ReturnToInvalidError } from '../errors.ts'

export const TRANSACTION_TTL = 600
export const BINDING_SHAPE = /^[A-Za-z0-9_-]{43}$/

export type Mode = 'cookie' | 'header'

/** The provider's answer, checked: its ID token's claims and the transaction it completes. */
export interface Verified { kind: 'verified', tx: Transaction, provider: Provider, claims: client.IDToken }
/** A callback that ends in `#error=<code>` at the transaction's return_to. */
export interface Failed { kind: 'failed', returnTo: string, code: string }

/** A new binding value for the browser's cookie (32 random bytes). */
export const newBinding = () => randomBytes(32).toString('base64url')

/**
 * What a provider's error parameter becomes in our fragment: a refusal is
 * access_denied, the provider's own trouble is OIDC_PROVIDER_UNAVAILABLE;
 * nothing the provider wrote is echoed.
 */
export function providerErrorCode (error: string): string {
  return error === 'server_error' || error === 'temporarily_unavailable' ? 'OIDC_PROVIDER_UNAVAILABLE' : 'access_denied'
}

/** A return_to on an allowed origin (or app scheme), without its fragment; RETURN_TO_INVALID otherwise. */
export function checkReturnTo (raw: string, allowed: readonly string[]): string {
  let url: URL | undefined
  try { url = new URL(raw) } catch {}
  if (url === undefined || raw.length > 2000 || url.username !== '' || url.password !== '') throw new ReturnToInvalidError()
  const isWeb = url.protocol === 'https:' || url.protocol === 'http:'
  // RFC 8252 section 7.3: a loopback IP listed without a port allows any port (a command-line app's listener).
  const loopbackAnyPort = url.protocol === 'http:' && (url.hostname === '127.0.0.1' || url.hostname === '[::1]') && allowed.includes(`http://${url.hostname}`)
  const ok = isWeb ? allowed.includes(url.origin) || loopbackAnyPort : allowed.includes(url.protocol)
  if (!ok) throw new ReturnToInvalidError()
  url.hash = ''
  return url.href
}

/** return_to with our answer in its fragment (never in its query: fragments stay in the browser). */
export function withFragment (returnTo: string, params: Record<string, string>): string {
  return `${returnTo.replace(/#.*$/, '')}#${new URLSearchParams(params).toString()}`
}

export function createOidcFlow (deps: { providers: Providers, store: OidcStore, returnOrigins: readonly string[], publicUrl: string | undefined }) {
  const { providers, store } = deps

  /** No return_to: PUBLIC_URL/ when it is allowed, else the first allowed web origin. */
  function defaultReturnTo (): string {
    const web = deps.returnOrigins.filter((o) => /^https?:/.test(o))
    const origin = deps.publicUrl !== undefined && web.includes(deps.publicUrl) ? deps.publicUrl : web[0] ?? deps.publicUrl
    return `${origin}/`
  }

  /** The provider's authorization URL for a new transaction (`linkUserId`: a link, not a sign-in). */
  async function start (name: string, opts: { returnTo?: string, mode: Mode, binding: string, linkUserId?: string, appChallenge?: string }): Promise<string> {
    const provider = providers.get(name)
    const returnTo = checkReturnTo(opts.returnTo ?? defaultReturnTo(), deps.returnOrigins)
    const config = await provider.client()
    const state = client.randomState()
    const nonce = client.randomNonce()
    const codeVerifier = client.randomPKCECodeVerifier()
    await store.insertTransaction({
      id: hashToken(state),
      provider: name,
      binding: hashToken(opts.binding),
      mode: opts.mode,
      returnTo,
      codeVerifier,
      nonce,
      linkUserId: opts.linkUserId ?? null,
      appChallenge: opts.appChallenge ?? null,
      expiresAt: new Date(Date.now() + TRANSACTION_TTL * 1000)
    })
    return client.buildAuthorizationUrl(config, {
      redirect_uri: provider.redirectUri,
      scope: provider.config.scopes,
      response_type: 'code',
      code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
      code_challenge_method: 'S256',
      state,
      nonce
    }).href
  }

  /**
   * Spends the transaction the callback names and checks the provider's
   * answer. An unknown state throws OIDC_STATE_INVALID (there is nowhere
   * safe to send the browser); a known one that cannot complete fails to
   * its return_to.
   */
  async function callback (name: string, query: URLSearchParams, binding: string | undefined): Promise<Verified | Failed> {
    // The URL the provider sent the browser to, as registered (PUBLIC_URL), whatever Host the request came with.
    const url = new URL(`${providers.get(name).redirectUri}?${query.toString()}`)
    const state = url.searchParams.get('state') ?? ''
    if (state === '' || state.length > 512) throw new OidcStateInvalidError()
    const id = hashToken(state)
    // Login CSRF: only the browser that started the sign-in may finish it (the binding is part of the take).
    const bound = binding !== undefined && BINDING_SHAPE.test(binding) ? hashToken(binding) : ''
    const tx = await store.takeTransaction(id, name, bound, new Date())
    if (tx === undefined) {
      const known = await store.findTransaction(id)
      if (known === null) throw new OidcStateInvalidError()
      return { kind: 'failed', returnTo: known.returnTo, code: 'OIDC_STATE_INVALID' }
    }
    const fail = (code: string): Failed => ({ kind: 'failed', returnTo: tx.returnTo, code })
    const error = url.searchParams.get('error')
    if (error !== null) return fail(providerErrorCode(error))
    const provider = providers.get(name)
    let config: client.Configuration
    try {
      config = await provider.client()
    } catch {
      return fail('OIDC_PROVIDER_UNAVAILABLE')
    }
    try {
      const tokens = await client.authorizationCodeGrant(config, url, {
        pkceCodeVerifier: tx.codeVerifier,
        expectedState: state,
        expectedNonce: tx.nonce,
        idTokenExpected: true
      })
      const claims = tokens.claims()
      if (claims === undefined) return fail('OIDC_ID_TOKEN_INVALID')
      return { kind: 'verified', tx, provider, claims }
    } catch (err) {
      return fail(codeOf(err))
    }
  }

  return { start, callback }
}

export type OidcFlow = ReturnType<typeof createOidcFlow>

/** Why the provider's answer was refused, as our code: the provider unreachable, or an answer that does not verify. */
function codeOf (err: unknown): string {
  if (err instanceof client.AuthorizationResponseError) return providerErrorCode(err.error)
  const e = err as { name?: string, code?: string, status?: number, cause?: { code?: string, status?: number } }
  // fetch() failed: refused, reset, timed out, DNS; or openid-client gave up waiting.
  if (e.name === 'TypeError' || e.name === 'TimeoutError' || e.name === 'AbortError' || e.cause?.code === 'ECONNREFUSED') return 'OIDC_PROVIDER_UNAVAILABLE'
  if (e.code === 'OAUTH_TIMEOUT' || e.code === 'OAUTH_ABORT') return 'OIDC_PROVIDER_UNAVAILABLE'
  // The token endpoint answered 5xx (or not at all in its own format): the provider's trouble, not a forgery.
  const status = e.status ?? e.cause?.status
  if (typeof status === 'number' && status >= 500) return 'OIDC_PROVIDER_UNAVAILABLE'
  if (e.code === 'OAUTH_RESPONSE_IS_NOT_CONFORM' && status !== 400) return 'OIDC_PROVIDER_UNAVAILABLE'
  return 'OIDC_ID_TOKEN_INVALID'
}
