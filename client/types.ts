// The client's types: what createAuthClient takes and gives, the events it
// emits, and the token state every module passes around. Types only; the
// contracts of the pluggable parts stay beside their defaults (AuthMode in
// transport.ts, RefreshTokenStorage in storage.ts, DpopKeyStore in dpop.ts).
import type { AuthMode } from './transport.ts'
import type { RefreshTokenStorage } from './storage.ts'
import type { DpopKeyStore } from './dpop.ts'
import type { AccountEvent } from './api/events.ts'

export interface User {
  id: string
  username: string
  roles: string[]
  /** From GET /auth/me (me()): the account's address, and whether it is verified. */
  email?: string | null
  emailVerified?: boolean
}

export interface Session {
  id: string
  createdAt: string
  lastUsedAt: string
  userAgent: string | null
  ip: string | null
  current: boolean
  /** How the session signed in (RFC 8176): pwd, otp, hwk, swk, user. */
  amr: string[]
  authTime: string
  /** Bound to a DPoP key: its tokens are worthless without that key. */
  dpopBound: boolean
}

/** A password login that needs a second step (the user has TOTP). */
export interface MfaRequired {
  readonly mfaRequired: true
  /** `totp` and `recovery_code`. */
  readonly methods: string[]
  /** Seconds left to complete it. */
  readonly expiresIn: number
  /** A TOTP code or a recovery code. Resolves signed in; a wrong code rejects with MFA_CODE_INVALID and may be tried again. */
  complete (code: string): Promise<User>
}

export type LoginResult = User | MfaRequired

export interface Passkey { id: string, name: string, createdAt: string, lastUsedAt: string | null }

/** A provider users may sign in with (GET /auth/oidc/providers): `label` for its "Sign in with …" button. */
export interface OidcProvider { name: string, label: string }

/** A provider identity linked to the user (GET /auth/identities). */
export interface LinkedIdentity { id: string, provider: string, email: string | null, linkedAt: string }

/** What `completeOidc` resolves with after a link: the provider's name. */
export interface OidcLinked { readonly linked: string }

/** `completeOidc`: signed in, the second step, a link done; `null` when the URL carries no outcome of a provider. */
export type OidcOutcome = LoginResult | OidcLinked | null

export interface StartOidcOptions {
  /** Where the service sends the browser back (its origin on OIDC_RETURN_ORIGINS). Default: this page without its fragment; outside a browser, the service's PUBLIC_URL/. */
  returnTo?: string
  /** Default: the client's mode. `header` hands a one-time login_code (mobile apps). */
  mode?: AuthMode
  /** false: only answer the URL. Default: navigate when there is a window. */
  navigate?: boolean
}
export interface MfaStatus { totp: boolean, recovery_codes_left: number, passkeys: number }

export type SignedOutReason =
  | 'logout' | 'logout-all' | 'session-ended' | 'other-tab'
  | 'REFRESH_TOKEN_REUSED' | 'INVALID_REFRESH_TOKEN' | 'CSRF_INVALID' | 'VALIDATION' | 'DPOP_PROOF_INVALID'
  /** Cookie mode across sites: the browser did not keep the service's cookies (third-party cookies blocked). */
  | 'COOKIES_BLOCKED'

export interface AuthEvents {
  signedIn: { user: User }
  refreshed: { user: User }
  signedOut: { reason: SignedOutReason }
}

export type Listener<K extends keyof AuthEvents> = (event: AuthEvents[K]) => void

/** Why the service wants proof: a stale sign-in, or a second factor this session did not use. */
export type ReauthReason = 'REAUTH_REQUIRED' | 'MFA_REQUIRED'

/** What the app answers with: the password (and a TOTP or recovery code when the user has TOTP), or a passkey. */
export type ReauthCredentials =
  | { password: string, code?: string }
  | { passkey: true, username?: string }

/**
 * Asked when a call needs a fresh proof; `null` declines (the call then
 * rejects with the service's error). `reason.code` MFA_REQUIRED: the proof
 * must include the second factor (a code, or a passkey).
 */
export type OnReauthRequired = (reason: { code: ReauthReason, message: string }) => Promise<ReauthCredentials | null> | ReauthCredentials | null

export interface AuthClientOptions {
  /** The service's origin (and path prefix, if any), e.g. https://auth.example.com */
  baseUrl: string
  /** `cookie` for browser SPAs (the default), `header` for mobile and server clients. */
  mode?: AuthMode
  /** Header mode: where the refresh token is kept. Default: memory only. */
  storage?: RefreshTokenStorage
  /**
   * DPoP (RFC 9449): true, false, or where the key pair is kept. Default: on
   * where WebCrypto is, with the key in IndexedDB in a browser and in memory
   * elsewhere; off in header mode with a `storage` of your own but no key
   * store (a restart would keep the refresh token and lose the key).
   */
  dpop?: boolean | DpopKeyStore
  /** Other origins that accept this service's access tokens; authFetch refuses to send the token anywhere else. */
  apiOrigins?: string[]
  /**
   * Tab coordination (cookie mode in a browser, on by default there): a channel
   * name, or false to turn it off. Needs BroadcastChannel; uses Web Locks when present.
   */
  tabs?: string | boolean
  /** How long a tab waits for another tab's refresh lock before taking it (ms, default 10000). */
  lockWait?: number
  /** Cookie mode: reads the CSRF token. Default: the `csrf_token` cookie, else the value the last login or refresh answered with. */
  csrfToken?: () => string | null
  /** Refresh this many seconds before expiry (default: a fifth of the lifetime, at most 60 s). */
  refreshLeeway?: number
  /** Waits between resends of a refresh whose answer was lost, in ms. */
  retryDelays?: number[]
  /** Timeout of one refresh attempt, in ms (default 3000). */
  refreshTimeout?: number
  /** The service's REFRESH_REUSE_GRACE in seconds (default 10): resends of a lost refresh stay 2 s inside it. */
  refreshGrace?: number
  /** Per-request timeout of other calls, in ms (default 10000). */
  timeout?: number
  fetch?: typeof fetch
  /** Step-up: asked for the user's proof when a call of this library answers 401 REAUTH_REQUIRED or MFA_REQUIRED; the call is then sent again once. */
  onReauthRequired?: OnReauthRequired
  /** The device's clock (tests). */
  now?: () => number
}

export interface AuthClient {
  readonly user: User | null
  readonly signedIn: boolean
  register (username: string, password: string): Promise<User>
  /** The user, signed in; or, for a user with TOTP, the second step to complete. */
  login (username: string, password: string): Promise<LoginResult>
  /** A passkey (WebAuthn): discoverable without a username. No second step. */
  signInWithPasskey (username?: string): Promise<User>
  registerPasskey (name?: string): Promise<Passkey>
  passkeys (): Promise<Passkey[]>
  renamePasskey (id: string, name: string): Promise<Passkey>
  deletePasskey (id: string): Promise<void>
  mfaStatus (): Promise<MfaStatus>
  /** Starts TOTP enrolment: the secret and its otpauth:// URI (for a QR code). */
  enrollTotp (): Promise<{ secret: string, otpauthUri: string }>
  /** Confirms TOTP with a code; resolves with the ten recovery codes (show them once). */
  confirmTotp (code: string): Promise<string[]>
  disableTotp (code: string): Promise<void>
  /** Every other session ends; this one stays. */
  changePassword (currentPassword: string, newPassword: string): Promise<void>
  /** Proves the user again (step-up): the same session, its sign-in now; `code` when the user has TOTP. */
  reauthenticate (credentials: { password: string, code?: string }): Promise<User>
  /** Proves the user again with one of their passkeys (WebAuthn). */
  reauthenticateWithPasskey (username?: string): Promise<User>
  /** With a reset token an admin issued, or from a mailed `#reset=` link; then sign in with the new password. */
  resetPassword (resetToken: string, newPassword: string): Promise<void>
  /** Opens a mailed `#verify=` link's token: the address becomes the account's verified one (409 EMAIL_TAKEN if another account verified it first). */
  verifyEmail (token: string): Promise<void>
  /** Step-up: mails a link to the new address; it replaces the old one (which is told) when opened. */
  changeEmail (email: string): Promise<void>
  /** Mails a `#reset=` link to the account's verified address; resolves the same whether or not the account exists. */
  forgotPassword (by: { email: string } | { username: string }): Promise<void>
  /** Mails a 6-digit sign-in code to a verified address; resolves the same whether or not it is known. */
  requestLoginCode (email: string): Promise<void>
  /** Signs in with a mailed code, as login does (a user with TOTP gets the second step). */
  loginWithEmailCode (email: string, code: string): Promise<LoginResult>
  /** The providers users may sign in with (GET /auth/oidc/providers). */
  oidcProviders (): Promise<OidcProvider[]>
  /** Sends the browser to the provider (GET /auth/oidc/:name/start); answers the URL (and, with a window, navigates there). */
  startOidc (name: string, options?: StartOidcOptions): Promise<string>
  /**
   * Back from the provider: reads the URL's fragment (default: this page's,
   * then removed from the address bar) and finishes. Cookie mode: a refresh
   * picks up the session the callback opened. Header mode: the login_code is
   * exchanged. A user with TOTP gets the `MfaRequired` step; `#error` rejects
   * with an AuthError of that code; a link resolves `{ linked }`.
   */
  completeOidc (url?: string): Promise<OidcOutcome>
  /** Header mode (a native app back from the system browser): exchanges a login_code (POST /auth/oidc/exchange). */
  exchangeOidcLoginCode (loginCode: string, codeVerifier?: string): Promise<LoginResult>
  /** Header mode: an ID token from the provider's own SDK (POST /auth/oidc/:name/id-token). */
  signInWithIdToken (name: string, idToken: string, nonce?: string): Promise<LoginResult>
  /** Links an identity at the provider to the signed-in user (step-up), then sends the browser there; answers the URL. */
  linkIdentity (name: string, returnTo?: string, options?: { navigate?: boolean }): Promise<string>
  identities (): Promise<LinkedIdentity[]>
  /** Step-up; never the last way in (409 LAST_SIGN_IN_METHOD). */
  unlinkIdentity (id: string): Promise<void>
  /** Picks up a session that already exists (a reload, another tab, a stored refresh token). */
  restore (): Promise<User | null>
  logout (): Promise<void>
  logoutAll (): Promise<void>
  me (): Promise<User>
  sessions (): Promise<Session[]>
  /** The user's last 50 security events, newest first (GET /auth/events). */
  events (): Promise<AccountEvent[]>
  endSession (id: string): Promise<void>
  /** fetch with the access token attached; relative paths resolve against baseUrl. */
  authFetch (path: string, init?: RequestInit): Promise<Response>
  on<K extends keyof AuthEvents> (event: K, listener: Listener<K>): () => void
  close (): void
}

/**
 * Internal (index.ts does not export it): the access token a client holds,
 * when it expires on the service's clock (ms), and whose it is; what tabs
 * hand each other (with the CSRF value in cookie mode across sites).
 */
export interface TokenState { accessToken: string, expiresAt: number, lifetime: number, user: User, tokenType: 'Bearer' | 'DPoP', csrf?: string }
