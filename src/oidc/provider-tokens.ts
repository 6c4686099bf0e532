// Tokens a provider's party hands us directly, verified with jose against
// the provider's keys (openid-client checks neither): the ID token a native
// app got from the provider's own SDK, and the logout token of OpenID
// Connect Back-Channel Logout 1.0, every rule of its section 2.6. Each is
// good once: a replayed one is refused on every instance.
import { decodeProtectedHeader, jwtVerify, type JWTPayload } from 'jose'
import type { Provider } from './providers.ts'
import type { OidcStore } from './store.ts'
import { hashToken } from '../sessions/sessions.ts'
import { OidcIdTokenInvalidError, OidcLogoutTokenInvalidError } from '../errors.ts'

export const BACKCHANNEL_EVENT = 'http://schemas.openid.net/event/backchannel-logout'
/** Seconds of clock difference tolerated with a provider. */
const SKEW = 60
/** A logout token older than this is refused, whatever its exp (section 2.6: iat checked as for ID tokens). */
const LOGOUT_MAX_AGE = 600
/** An app's ID token older than this is refused, whatever its exp (an SDK's token is posted when it arrives). */
const ID_TOKEN_MAX_AGE = 3600
/** A compact JWS and nothing else: no whitespace, no padding, three parts. */
const COMPACT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/

/**
 * What makes a token the same token: its decoded signature. base64url
 * decoding ignores a last character's unused bits, so several strings can
 * carry one signature; the replay record must not tell them apart.
 */
const signatureOf = (token: string) => hashToken(Buffer.from(token.slice(token.lastIndexOf('.') + 1), 'base64url').toString('base64'))

async function verify (provider: Provider, token: string, extra: { maxTokenAge?: number }): Promise<JWTPayload> {
  const config = await provider.client()
  const { getKey, algorithms } = await provider.keys()
  const { payload } = await jwtVerify(token, getKey, {
    issuer: config.serverMetadata().issuer,
    audience: provider.config.clientId,
    algorithms,
    clockTolerance: SKEW,
    ...(extra.maxTokenAge !== undefined ? { maxTokenAge: extra.maxTokenAge } : {})
  })
  return payload
}

function typOf (token: string): string | undefined {
  try { return decodeProtectedHeader(token).typ?.toLowerCase() } catch { return undefined }
}

/** When `aud` names other parties too, `azp` must name us (OpenID Connect Core 3.1.3.7). */
function authorizedParty (payload: JWTPayload, clientId: string): boolean {
  return !Array.isArray(payload.aud) || payload.aud.length === 1 || payload.azp === clientId
}

export function createProviderTokens (deps: { store: OidcStore }) {
  const { store } = deps

  /** An app's ID token: the provider's signature, iss, aud = our client id, exp, and the nonce when the app sent one. */
  async function idToken (provider: Provider, token: string, nonce: string | undefined): Promise<JWTPayload> {
    if (!COMPACT.test(token) || typOf(token) === 'logout+jwt') throw new OidcIdTokenInvalidError()
    let payload: JWTPayload
    try {
      payload = await verify(provider, token, { maxTokenAge: ID_TOKEN_MAX_AGE })
    } catch (err) {
      if ((err as { code?: string }).code === 'OIDC_PROVIDER_UNAVAILABLE') throw err
      throw new OidcIdTokenInvalidError()
    }
    if (typeof payload.exp !== 'number' || typeof payload.iat !== 'number' || typeof payload.sub !== 'string') throw new OidcIdTokenInvalidError()
    if (payload.events !== undefined || !authorizedParty(payload, provider.config.clientId)) throw new OidcIdTokenInvalidError()
    if (nonce !== undefined && payload.nonce !== nonce) throw new OidcIdTokenInvalidError()
    // One sign-in per ID token: a copy seen in transit signs nobody in again.
    if (!await store.claimOnce(hashToken(`id-token ${signatureOf(token)}`), new Date((Math.min(payload.exp, payload.iat + ID_TOKEN_MAX_AGE) + SKEW) * 1000))) throw new OidcIdTokenInvalidError()
    return payload
  }

  /** A logout token: which provider session (sid) or user (sub) the provider signed out. */
  async function logoutToken (provider: Provider, token: string): Promise<{ issuer: string, sub?: string, sid?: string }> {
    if (!COMPACT.test(token)) throw new OidcLogoutTokenInvalidError('it is not a compact JWT')
    // Explicitly typed logout tokens are recommended, not required: an older provider's typ JWT (or none) is taken.
    const typ = typOf(token)
    if (typ !== undefined && typ !== 'logout+jwt' && typ !== 'application/logout+jwt' && typ !== 'jwt') throw new OidcLogoutTokenInvalidError('its typ is not logout+jwt')
    let payload: JWTPayload
    try {
      payload = await verify(provider, token, { maxTokenAge: LOGOUT_MAX_AGE })
    } catch (err) {
      if ((err as { code?: string }).code === 'OIDC_PROVIDER_UNAVAILABLE') throw err
      throw new OidcLogoutTokenInvalidError('its signature, iss, aud or iat does not verify')
    }
    if (typeof payload.iat !== 'number') throw new OidcLogoutTokenInvalidError('it has no iat')
    if (typeof payload.jti !== 'string' || payload.jti.length === 0 || payload.jti.length > 255) throw new OidcLogoutTokenInvalidError('it has no jti')
    const events = payload.events as Record<string, unknown> | undefined
    const event = events !== null && typeof events === 'object' ? events[BACKCHANNEL_EVENT] : undefined
    if (event === null || typeof event !== 'object' || Array.isArray(event)) throw new OidcLogoutTokenInvalidError('its events claim has no back-channel logout event')
    const sub = typeof payload.sub === 'string' && payload.sub !== '' ? payload.sub : undefined
    const sid = typeof payload.sid === 'string' && payload.sid !== '' ? payload.sid : undefined
    if (sub === undefined && sid === undefined) throw new OidcLogoutTokenInvalidError('it names neither sub nor sid')
    if ('nonce' in payload) throw new OidcLogoutTokenInvalidError('it carries a nonce')
    if (!authorizedParty(payload, provider.config.clientId)) throw new OidcLogoutTokenInvalidError('its azp is not this client')
    const issuer = payload.iss!
    // The jti is kept at least as long as the token could be accepted.
    const keepUntil = Math.max(typeof payload.exp === 'number' ? payload.exp : 0, payload.iat + LOGOUT_MAX_AGE) + SKEW
    if (!await store.claimOnce(hashToken(`logout ${issuer} ${payload.jti}`), new Date(keepUntil * 1000))) throw new OidcLogoutTokenInvalidError('its jti was seen before')
    return { issuer, sub, sid }
  }

  return { idToken, logoutToken }
}

export type ProviderTokens = ReturnType<typeof createProviderTokens>
