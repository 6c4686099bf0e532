// A client for the auth service (docs/api.md) that browsers, React Native and
// Node can use: fetch-based, no runtime dependencies, ESM. Its parts:
// transport.ts (HTTP, timeouts, the service's clock, DPoP proofs on the wire),
// refresh.ts (when a refresh may be sent again), tabs.ts (one refresh across
// tabs), storage.ts (refresh token and CSRF value), dpop.ts (the key and its
// proofs), webauthn.ts (passkeys). This file is the public API.
//
// - The access token lives in memory only. It is refreshed shortly before it
//   expires (on the service's clock, read off its Date header, so a device
//   clock hours off neither loops nor expires early), when a page becomes
//   visible or the network comes back near expiry, and once more when a call
//   comes back 401 TOKEN_EXPIRED or TOKEN_REVOKED.
// - One refresh at a time, however many calls need one (single flight). In a
//   browser, tabs share it too: a Web Lock (stolen from a tab that holds it
//   too long) serializes refreshes across tabs, and a BroadcastChannel hands
//   the new access token (and sign-outs) to every tab.
// - Only a refused refresh ends a session. A lost answer is sent again inside
//   the service's grace window, a 429 after Retry-After, a 5xx or network
//   error backs off and is tried again later; none of them signs out.
// - DPoP (RFC 9449) is on by default where WebCrypto is: the session is bound
//   to a key pair whose private half page scripts cannot read, kept in
//   IndexedDB in a browser (a reload keeps the binding) or in a key store of
//   your choice; a stolen refresh or access token is worthless without it.
// - REFRESH_TOKEN_REUSED, INVALID_REFRESH_TOKEN, a refused proof or a revoked
//   session end in one `signedOut` event. After it no call goes out until the
//   next login.
// - A login of a user with TOTP resolves with an `MfaRequired` step instead of
//   the user: `complete(code)` finishes it. Passkeys sign in and register
//   through navigator.credentials (client/webauthn.ts).
// - REAUTH_REQUIRED and MFA_REQUIRED (step-up before a sensitive change) are
//   never a sign-out: `reauthenticate` proves the user again, and with
//   `onReauthRequired` the library's own calls ask and retry once (client/reauth.ts).
import { credentialJson, creationOptions, passkeyAssertion, webauthnAvailable } from './webauthn.ts'
import { AuthError, Transport, errorOf, type AuthMode, type SendInit } from './transport.ts'
import { RefreshRefused, REFUSED_CODES, refreshWithBudget, type RefreshPolicy } from './refresh.ts'
import { Tabs, type TabMessage, type TokenState } from './tabs.ts'
import { CsrfValue, memoryStorage, type RefreshTokenStorage } from './storage.ts'
import { DpopSigner, dpopAvailable, indexedDbKeyStore, memoryKeyStore, type DpopKeyStore } from './dpop.ts'
import { StepUp, passwordProof, reauthenticatedState, type OnReauthRequired, type ReauthCredentials } from './reauth.ts'

export { AuthError, type AuthMode } from './transport.ts'
export { memoryStorage, type RefreshTokenStorage } from './storage.ts'
export { indexedDbKeyStore, memoryKeyStore, type DpopKeyStore } from './dpop.ts'
export { isStepUpError, type OnReauthRequired, type ReauthCredentials, type ReauthReason } from './reauth.ts'

export interface User { id: string, username: string, roles: string[] }

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

export function isMfaRequired (result: LoginResult): result is MfaRequired {
  return (result as MfaRequired).mfaRequired === true
}

export interface Passkey { id: string, name: string, createdAt: string, lastUsedAt: string | null }
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

type Listener<K extends keyof AuthEvents> = (event: AuthEvents[K]) => void

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

/** The `sid` claim of an access token (read, not verified: the service verifies). */
function sessionIdOf (accessToken: string): string | undefined {
  try {
    const payload = accessToken.split('.')[1].replace(/-/g, '+').replace(/_/g, '/')
    const claims = JSON.parse(atob(payload.padEnd(payload.length + ((4 - payload.length % 4) % 4), '=')))
    return typeof claims.sid === 'string' ? claims.sid : undefined
  } catch {
    return undefined
  }
}

/** Waits after a scheduled refresh failed without a refusal: 1 s, 2 s, 4 s … at most 30 s. */
const backoffMs = (failures: number) => Math.min(30_000, 1000 * 2 ** Math.max(0, failures - 1))

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
  /** With a reset token an admin issued; then sign in with the new password. */
  resetPassword (resetToken: string, newPassword: string): Promise<void>
  /** Picks up a session that already exists (a reload, another tab, a stored refresh token). */
  restore (): Promise<User | null>
  logout (): Promise<void>
  logoutAll (): Promise<void>
  me (): Promise<User>
  sessions (): Promise<Session[]>
  endSession (id: string): Promise<void>
  /** fetch with the access token attached; relative paths resolve against baseUrl. */
  authFetch (path: string, init?: RequestInit): Promise<Response>
  on<K extends keyof AuthEvents> (event: K, listener: Listener<K>): () => void
  close (): void
}

export function createAuthClient (options: AuthClientOptions): AuthClient {
  return new Client(options)
}

interface TokenBody { access_token: string, token_type?: string, expires_in: number, user: User, refresh_token?: string, csrf_token?: string }

class Client implements AuthClient {
  private base: URL
  private mode: AuthMode
  private transport: Transport
  private storage: RefreshTokenStorage
  private origins: Set<string>
  private csrf: () => string | null
  private csrfValue: CsrfValue
  private leeway: number | undefined
  private policy: RefreshPolicy
  private tabs: Tabs | undefined
  private signer: DpopSigner | undefined
  private state: TokenState | null = null
  // 'unknown' until a login or restore says otherwise; a signed-out event fires
  // only on the way from not-signed-out to signed-out.
  private status: 'unknown' | 'in' | 'out' = 'unknown'
  private inflight: Promise<void> | null = null
  private timer: ReturnType<typeof setTimeout> | undefined
  private failures = 0
  /** Cookie mode: whether a refresh has worked since the last login (cookies kept by the browser). */
  private cookiesProven = false
  private listeners: { [K in keyof AuthEvents]: Set<Listener<K>> } = { signedIn: new Set(), refreshed: new Set(), signedOut: new Set() }
  private tabAnswer: ((state: TokenState) => void) | undefined
  private unwatch: Array<() => void> = []
  private stepUp: StepUp

  constructor (options: AuthClientOptions) {
    this.base = new URL(options.baseUrl.endsWith('/') ? options.baseUrl : `${options.baseUrl}/`)
    this.mode = options.mode ?? 'cookie'
    if (this.mode !== 'cookie' && this.mode !== 'header') throw new TypeError('mode must be "cookie" or "header"')
    this.storage = options.storage ?? memoryStorage()
    const inBrowser = typeof (globalThis as { document?: unknown }).document !== 'undefined'
    this.signer = dpopSigner(options, inBrowser, this.base)
    this.transport = new Transport({
      base: this.base,
      mode: this.mode,
      fetch: options.fetch ?? ((input, init) => globalThis.fetch(input, init)),
      timeout: options.timeout ?? 10_000,
      now: options.now,
      dpop: this.signer
    })
    this.origins = new Set([this.base.origin, ...(options.apiOrigins ?? []).map((o) => new URL(o).origin)])
    this.csrfValue = new CsrfValue(`auth-client:csrf:${this.base.href}`)
    this.csrf = options.csrfToken ?? (() => this.csrfValue.get())
    this.leeway = options.refreshLeeway
    const graceMs = (options.refreshGrace ?? 10) * 1000
    this.policy = {
      attemptTimeoutMs: options.refreshTimeout ?? 3000,
      budgetMs: Math.max(0, graceMs - 2000),
      retryDelays: options.retryDelays ?? [250, 750, 1500],
      maxRateLimitWaitMs: 60_000,
      maxRateLimited: 3
    }
    const wantTabs = options.tabs ?? (this.mode === 'cookie' && inBrowser)
    if (wantTabs !== false && typeof BroadcastChannel !== 'undefined') {
      const name = typeof wantTabs === 'string' ? wantTabs : `auth-client:${this.base.href}`
      this.tabs = new Tabs(name, options.lockWait ?? 10_000, (msg) => this.onTabMessage(msg))
    }
    if (inBrowser) this.watchPage()
    this.stepUp = new StepUp(options.onReauthRequired, (proof: ReauthCredentials) => 'passkey' in proof ? this.reauthenticateWithPasskey(proof.username) : this.reauthenticate(proof))
  }

  get user (): User | null { return this.state?.user ?? null }
  get signedIn (): boolean { return this.status === 'in' && this.state !== null }

  on<K extends keyof AuthEvents> (event: K, listener: Listener<K>): () => void {
    const set = this.listeners[event] as Set<Listener<K>>
    set.add(listener)
    return () => { set.delete(listener) }
  }

  private emit<K extends keyof AuthEvents> (event: K, payload: AuthEvents[K]): void {
    for (const listener of this.listeners[event] as Set<Listener<K>>) {
      try { listener(payload) } catch {}
    }
  }

  close (): void {
    clearTimeout(this.timer)
    this.tabs?.close()
    for (const stop of this.unwatch) stop()
  }

  /** A page made visible again, or a network back: refresh now if the token is near its end. */
  private watchPage (): void {
    const g = globalThis as unknown as { document: Document, addEventListener?: (type: string, fn: () => void) => void, removeEventListener?: (type: string, fn: () => void) => void }
    const wake = () => {
      if (this.status === 'in' && this.state !== null && !this.fresh() && (g.document.visibilityState ?? 'visible') === 'visible') {
        this.refresh(this.state.accessToken).catch(() => {})
      }
    }
    g.document.addEventListener('visibilitychange', wake)
    this.unwatch.push(() => g.document.removeEventListener('visibilitychange', wake))
    if (g.addEventListener !== undefined) {
      g.addEventListener('online', wake)
      this.unwatch.push(() => g.removeEventListener?.('online', wake))
    }
  }

  private send (path: string, init: SendInit = {}): Promise<Response> {
    return this.transport.send(path, init)
  }

  /** Login, its second steps and refresh carry a proof when DPoP is on. */
  private tokenEndpoint (init: SendInit): SendInit {
    return this.signer === undefined ? init : { ...init, proof: 'token-endpoint' }
  }

  // --- Token state --------------------------------------------------------------

  private leewayMs (state: TokenState): number {
    const seconds = this.leeway ?? Math.min(60, state.lifetime / 5)
    return seconds * 1000
  }

  private fresh (): boolean {
    return this.state !== null && this.state.expiresAt - this.transport.now() > this.leewayMs(this.state)
  }

  private arm (dueMs: number, stale: string): void {
    clearTimeout(this.timer)
    this.timer = setTimeout(() => {
      this.refresh(stale).then(() => { this.failures = 0 }, (err) => {
        // Not refused (that signs out): try again later, while there is a session.
        if (this.status !== 'in' || !(err instanceof AuthError) || err.code === 'SIGNED_OUT') return
        this.failures++
        this.arm(err.retryAfterMs ?? backoffMs(this.failures), stale)
      })
    }, dueMs)
    const t = this.timer as { unref?: () => void }
    t.unref?.() // never keep a Node process alive just to refresh
  }

  private adopt (state: TokenState, event: 'signedIn' | 'refreshed' | null): void {
    const wasIn = this.status === 'in'
    this.state = state
    this.status = 'in'
    this.arm(Math.max(0, state.expiresAt - this.leewayMs(state) - this.transport.now()), state.accessToken)
    if (!wasIn) this.emit('signedIn', { user: state.user })
    else if (event === 'refreshed') this.emit('refreshed', { user: state.user })
  }

  private async takeTokens (body: TokenBody): Promise<TokenState> {
    if (this.mode === 'header') {
      if (typeof body.refresh_token !== 'string') throw new AuthError(0, 'BAD_RESPONSE', 'no refresh_token in a header-mode answer')
      await this.storage.set(body.refresh_token)
    } else if (typeof body.csrf_token === 'string') {
      this.csrfValue.set(body.csrf_token)
    }
    // expires_in counts from the service's now: so does expiresAt.
    return { accessToken: body.access_token, expiresAt: this.transport.now() + body.expires_in * 1000, lifetime: body.expires_in, user: body.user, tokenType: body.token_type === 'DPoP' ? 'DPoP' : 'Bearer' }
  }

  private async signOutLocally (reason: SignedOutReason, tell: boolean): Promise<void> {
    const wasOut = this.status === 'out'
    this.state = null
    this.status = 'out'
    clearTimeout(this.timer)
    if (this.mode === 'header') await this.storage.clear()
    else this.csrfValue.clear()
    // The next session gets a key of its own.
    if (tell) await this.signer?.discard().catch(() => {})
    if (tell) this.tabs?.post({ type: 'signedOut', reason })
    if (!wasOut) this.emit('signedOut', { reason })
  }

  /** Nothing to refresh with: a sign-out if we were signed in, else just "not signed in". */
  private async noCredential (tell: boolean): Promise<void> {
    if (this.status === 'in') await this.signOutLocally('INVALID_REFRESH_TOKEN', tell)
    else this.status = 'out'
  }

  private onTabMessage (msg: TabMessage): void {
    if (msg.type === 'hello') {
      if (this.fresh() && this.state !== null) this.tabs?.post({ type: 'tokens', state: this.state })
    } else if (msg.type === 'tokens') {
      // Another tab signed in or refreshed: its key may be new (IndexedDB holds one per origin).
      this.signer?.reload()
      if (msg.state.csrf !== undefined) this.csrfValue.set(msg.state.csrf)
      this.tabAnswer?.(msg.state)
      if (this.state === null || msg.state.expiresAt > this.state.expiresAt) this.adopt(msg.state, 'refreshed')
    } else if (msg.type === 'signedOut') {
      this.signer?.reload()
      this.signOutLocally('other-tab', false).catch(() => {})
    }
  }

  private broadcast (state: TokenState): void {
    const csrf = this.mode === 'cookie' ? this.csrf() ?? undefined : undefined
    this.tabs?.post({ type: 'tokens', state: csrf === undefined ? state : { ...state, csrf } })
  }

  // --- Refresh ------------------------------------------------------------------

  /**
   * Gets a new access token unless another caller (or tab) already replaced
   * `stale`. Concurrent callers share one attempt.
   */
  private refresh (stale: string | null): Promise<void> {
    this.inflight ??= this.refreshOnce(stale).finally(() => { this.inflight = null })
    return this.inflight
  }

  private async refreshOnce (stale: string | null): Promise<void> {
    const run = async () => {
      if (this.state !== null && this.state.accessToken !== stale && this.fresh()) return // another tab did it
      if (this.status === 'out') throw new AuthError(401, 'SIGNED_OUT', 'signed out')
      const state = await this.refreshRequest()
      this.adopt(state, 'refreshed')
      this.broadcast(state)
    }
    return this.tabs !== undefined ? await this.tabs.exclusive(run) : await run()
  }

  private async refreshRequest (): Promise<TokenState> {
    let init: SendInit
    if (this.mode === 'header') {
      const token = await this.storage.get()
      if (token === null || token === '') {
        await this.noCredential(false)
        throw new AuthError(401, 'SIGNED_OUT', 'not signed in: no refresh token stored')
      }
      init = { method: 'POST', json: { refresh_token: token } }
    } else {
      const csrf = this.csrf()
      if (csrf === null) {
        await this.noCredential(true)
        throw new AuthError(401, 'SIGNED_OUT', 'not signed in: no session cookie')
      }
      init = { method: 'POST', headers: { 'x-csrf-token': csrf } }
    }
    try {
      const res = await refreshWithBudget((timeoutMs) => this.send('/auth/refresh', this.tokenEndpoint({ ...init, timeoutMs })), this.policy, () => this.transport.now())
      const state = await this.takeTokens(await res.json())
      this.cookiesProven = true
      return state
    } catch (err) {
      if (!(err instanceof RefreshRefused)) throw err
      // Cookie mode across sites, the first refresh after a login finding no cookie: the browser blocks them.
      const blocked = this.mode === 'cookie' && !this.cookiesProven && err.error.code === 'INVALID_REFRESH_TOKEN' && this.csrfValue.crossSite
      await this.signOutLocally(blocked ? 'COOKIES_BLOCKED' : err.error.code as SignedOutReason, true)
      if (blocked) throw new AuthError(401, 'COOKIES_BLOCKED', 'this browser did not keep the service\'s cookies (third-party cookies are blocked): serve the app on the service\'s site, or use header mode')
      throw err.error
    }
  }

  private async ensureFresh (): Promise<void> {
    if (this.fresh()) return
    if (this.status === 'out') throw new AuthError(401, 'SIGNED_OUT', 'signed out')
    await this.refresh(this.state?.accessToken ?? null)
  }

  // --- API ----------------------------------------------------------------------

  async register (username: string, password: string): Promise<User> {
    const res = await this.send('/auth/register', { method: 'POST', json: { username, password } })
    if (!res.ok) throw await errorOf(res)
    return await res.json()
  }

  private async signedInWith (res: Response): Promise<User> {
    if (!res.ok) throw await errorOf(res)
    const state = await this.takeTokens(await res.json())
    this.status = 'unknown' // a new sign-in after a sign-out
    this.cookiesProven = false
    this.failures = 0
    this.adopt(state, 'signedIn')
    this.broadcast(state)
    return state.user
  }

  async login (username: string, password: string): Promise<LoginResult> {
    const res = await this.send('/auth/login', this.tokenEndpoint({ method: 'POST', json: { username, password } }))
    if (!res.ok) throw await errorOf(res)
    const body = await res.clone().json()
    if (body.mfa_required !== true) return this.signedInWith(res)
    const mfaToken: string = body.mfa_token
    return {
      mfaRequired: true,
      methods: body.methods,
      expiresIn: body.expires_in,
      complete: async (code: string) => this.signedInWith(await this.send('/auth/login/mfa', this.tokenEndpoint({ method: 'POST', json: { mfa_token: mfaToken, code: code.trim() } })))
    }
  }

  async signInWithPasskey (username?: string): Promise<User> {
    const response = await passkeyAssertion((path, init) => this.send(path, init), username)
    return this.signedInWith(await this.send('/auth/passkeys/authentication', this.tokenEndpoint({ method: 'POST', json: { response } })))
  }

  reauthenticate (credentials: { password: string, code?: string }): Promise<User> {
    return this.reauthWith(passwordProof(credentials))
  }

  async reauthenticateWithPasskey (username?: string): Promise<User> {
    return this.reauthWith({ passkey: await passkeyAssertion((path, init) => this.send(path, init), username) })
  }

  /** A new access token of this session (same binding), its sign-in now; every tab gets it. */
  private async reauthWith (body: object): Promise<User> {
    const res = await this.authFetch('/auth/reauthenticate', jsonBody('POST', body))
    if (!res.ok) throw await errorOf(res)
    const state = reauthenticatedState(await res.json(), this.transport.now())
    this.adopt(state, null)
    this.broadcast(state)
    return state.user
  }

  async registerPasskey (name?: string): Promise<Passkey> {
    if (!webauthnAvailable()) throw new AuthError(0, 'WEBAUTHN_UNAVAILABLE', 'passkeys need a browser with WebAuthn')
    const options = await this.json<Record<string, unknown>>('/auth/passkeys/registration/options', { method: 'POST' })
    const credential = await navigator.credentials.create({ publicKey: creationOptions(options) }) as PublicKeyCredential | null
    if (credential === null) throw new AuthError(0, 'PASSKEY_CANCELLED', 'no passkey was created')
    return this.json<Passkey>('/auth/passkeys/registration', jsonBody('POST', { response: credentialJson(credential), ...(name !== undefined && name !== '' ? { name } : {}) }))
  }

  passkeys (): Promise<Passkey[]> { return this.json<Passkey[]>('/auth/passkeys') }
  renamePasskey (id: string, name: string): Promise<Passkey> { return this.json<Passkey>(`/auth/passkeys/${encodeURIComponent(id)}`, jsonBody('PATCH', { name })) }
  deletePasskey (id: string): Promise<void> { return this.json<void>(`/auth/passkeys/${encodeURIComponent(id)}`, { method: 'DELETE' }) }
  mfaStatus (): Promise<MfaStatus> { return this.json<MfaStatus>('/auth/mfa') }

  async enrollTotp (): Promise<{ secret: string, otpauthUri: string }> {
    const body = await this.json<{ secret: string, otpauth_uri: string }>('/auth/mfa/totp', { method: 'POST' })
    return { secret: body.secret, otpauthUri: body.otpauth_uri }
  }

  async confirmTotp (code: string): Promise<string[]> {
    return (await this.json<{ recovery_codes: string[] }>('/auth/mfa/totp/confirm', jsonBody('POST', { code: code.trim() }))).recovery_codes
  }

  disableTotp (code: string): Promise<void> { return this.json<void>('/auth/mfa/totp', jsonBody('DELETE', { code: code.trim() })) }

  changePassword (currentPassword: string, newPassword: string): Promise<void> {
    return this.json<void>('/auth/password', jsonBody('POST', { current_password: currentPassword, new_password: newPassword }))
  }

  async resetPassword (resetToken: string, newPassword: string): Promise<void> {
    const res = await this.send('/auth/password/reset', { method: 'POST', json: { reset_token: resetToken, new_password: newPassword } })
    if (!res.ok) throw await errorOf(res)
  }

  async restore (): Promise<User | null> {
    if (this.fresh()) return this.user
    if (this.tabs !== undefined) {
      // Another tab may hold a fresh token: take it rather than rotate the cookie again.
      const answer = new Promise<TokenState | null>((resolve) => {
        this.tabAnswer = resolve
        setTimeout(() => resolve(null), 150)
      })
      this.tabs.post({ type: 'hello' })
      const state = await answer
      this.tabAnswer = undefined
      if (state !== null && this.fresh()) return this.user
    }
    const hasCredential = this.mode === 'header' ? Boolean(await this.storage.get()) : this.csrf() !== null
    if (!hasCredential) {
      this.status = 'out'
      return null
    }
    try {
      await this.refresh(this.state?.accessToken ?? null)
      return this.user
    } catch (err) {
      if (err instanceof AuthError && (err.code === 'SIGNED_OUT' || err.code === 'COOKIES_BLOCKED' || REFUSED_CODES.has(err.code))) return null
      throw err
    }
  }

  async authFetch (path: string, init: RequestInit = {}): Promise<Response> {
    const target = this.transport.url(path)
    if (!this.origins.has(target.origin)) throw new AuthError(0, 'FOREIGN_ORIGIN', `will not send the access token to ${target.origin}`)
    await this.ensureFresh()
    const attempt = async () => {
      const { accessToken, tokenType } = this.state!
      const headers = new Headers(init.headers)
      headers.set('authorization', `${tokenType} ${accessToken}`)
      return await this.send(target.href, { ...init, headers, ...(tokenType === 'DPoP' ? { proof: { accessToken } } : {}) })
    }
    const used = this.state!.accessToken
    const res = await attempt()
    if (res.status !== 401) return res
    const code = (await errorOf(res.clone())).code
    if (code !== 'TOKEN_EXPIRED' && code !== 'TOKEN_REVOKED') return res
    // Once: a refresh, then the same request again. A revoked session fails the
    // refresh, which signs out; there is no second retry.
    await this.refresh(used)
    return await attempt()
  }

  private async json<T> (path: string, init?: RequestInit): Promise<T> {
    const res = await this.stepUp.send(() => this.authFetch(path, init))
    if (!res.ok) throw await errorOf(res)
    return res.status === 204 ? (undefined as T) : await res.json()
  }

  async me (): Promise<User> {
    const user = await this.json<User>('/auth/me')
    if (this.state !== null) this.state.user = user
    return user
  }

  sessions (): Promise<Session[]> {
    return this.json<Session[]>('/auth/sessions')
  }

  async endSession (id: string): Promise<void> {
    const current = this.state !== null ? sessionIdOf(this.state.accessToken) : undefined
    await this.json<void>(`/auth/sessions/${encodeURIComponent(id)}`, { method: 'DELETE' })
    if (id === current) await this.signOutLocally('session-ended', true)
  }

  async logout (): Promise<void> {
    // Signed out here whatever the network does; the error (if any) is still thrown.
    const headers: Record<string, string> = {}
    let proof: SendInit['proof']
    if (this.state !== null) {
      headers.authorization = `${this.state.tokenType} ${this.state.accessToken}`
      if (this.state.tokenType === 'DPoP') proof = { accessToken: this.state.accessToken }
    }
    let init: SendInit = { method: 'POST', headers, proof }
    if (this.mode === 'header') {
      const token = await this.storage.get()
      if (token) init = { ...init, json: { refresh_token: token } }
    } else {
      const csrf = this.csrf()
      if (csrf !== null) headers['x-csrf-token'] = csrf
    }
    // A bound session's refresh credential, when one is sent, is checked with a proof that has no ath.
    if (proof !== undefined && (init.json !== undefined || headers['x-csrf-token'] !== undefined)) init.proof = 'token-endpoint'
    try {
      const res = await this.send('/auth/logout', init)
      if (!res.ok) throw await errorOf(res)
    } finally {
      await this.signOutLocally('logout', true)
    }
  }

  async logoutAll (): Promise<void> {
    try {
      await this.json<void>('/auth/logout-all', { method: 'POST' })
    } finally {
      await this.signOutLocally('logout-all', true)
    }
  }
}

function jsonBody (method: string, value: unknown): RequestInit {
  return { method, headers: { 'content-type': 'application/json' }, body: JSON.stringify(value) }
}

function dpopSigner (options: AuthClientOptions, inBrowser: boolean, base: URL): DpopSigner | undefined {
  if (options.dpop === false || !dpopAvailable()) return undefined
  if (typeof options.dpop === 'object') return new DpopSigner(options.dpop)
  if (inBrowser && typeof indexedDB !== 'undefined') return new DpopSigner(indexedDbKeyStore(`auth-client-dpop:${base.href}`))
  // A refresh token kept somewhere lasting, with the key in memory, would outlive its key: off unless asked.
  if (options.dpop === undefined && options.storage !== undefined) return undefined
  return new DpopSigner(memoryKeyStore())
}
