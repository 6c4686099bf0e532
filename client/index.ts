// A client for the auth service (docs/api.md) that browsers, React Native and
// Node can use: fetch-based, no runtime dependencies, ESM. This file is the
// public API: createAuthClient and what an app may import. Where things are:
//
// - types.ts: the public types (options, the AuthClient, results, events).
// - client.ts: the AuthClient, a session and one method per endpoint wrapper.
// - session.ts: the client's state and token life (single-flight refresh,
//   restore, expiry on the service's clock, tabs glue, sign-out);
//   schedule.ts: refreshes that run by themselves (before expiry, backing
//   off, a page visible again, a network back); events.ts: its events.
// - calls.ts: calls with the access token (authFetch; one refresh on
//   TOKEN_EXPIRED or TOKEN_REVOKED; step-up asked and sent again once).
// - api/: the endpoint wrappers, a file per feature: credentials.ts (register,
//   login, logout), mfa.ts (TOTP, a login's second step), passkeys.ts,
//   passwords.ts, email.ts (verify and change an address, forgot-password,
//   sign-in codes), sessions.ts (me, sessions, logout-all), events.ts (the
//   account's activity), step-up.ts
//   (reauthenticate), oidc.ts (signing in with an OpenID Connect provider:
//   startOidc, completeOidc, the login_code exchange, linked identities).
// - Underneath: transport.ts (HTTP, timeouts, the service's clock, DPoP
//   proofs on the wire), refresh.ts (when a refresh may be sent again),
//   tabs.ts (one refresh across tabs), storage.ts (refresh token and CSRF
//   value), dpop.ts (the key and its proofs; on by default where WebCrypto
//   is, so a stolen refresh or access token is worthless without the key),
//   webauthn.ts (passkeys), reauth.ts (step-up).
import { Client } from './client.ts'
import type { AuthClient, AuthClientOptions } from './types.ts'

export { AuthError, type AuthMode } from './transport.ts'
export { memoryStorage, type RefreshTokenStorage } from './storage.ts'
export { indexedDbKeyStore, memoryKeyStore, type DpopKeyStore } from './dpop.ts'
export { isStepUpError } from './reauth.ts'
export { isMfaRequired } from './api/mfa.ts'
export type { AccountEvent } from './api/events.ts'
export { mailedLinkToken } from './api/email.ts'
export type {
  AuthClient, AuthClientOptions, AuthEvents, LinkedIdentity, LoginResult, MfaRequired, MfaStatus, OidcLinked,
  OidcOutcome, OidcProvider, OnReauthRequired, Passkey, ReauthCredentials, ReauthReason, Session, SignedOutReason,
  StartOidcOptions, User
} from './types.ts'

export function createAuthClient (options: AuthClientOptions): AuthClient {
  return new Client(options)
}
