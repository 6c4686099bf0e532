// A client for the auth service (docs/api.md) that browsers, React Native and
// Node can use: fetch-based, no runtime dependencies, ESM.
//
// - The access token lives in memory only. It is refreshed shortly before it
//   expires, and once more when a call comes back 401 TOKEN_EXPIRED or
//   TOKEN_REVOKED (a role change revokes tokens but keeps the session).
// - One refresh at a time, however many calls need one (single flight). In a
//   browser, tabs share it too: a Web Lock serializes refreshes across tabs,
//   and a BroadcastChannel hands the new access token (and sign-outs) to every
//   tab, so tabs never race on the rotating refresh cookie.
// - A refresh whose response is lost (network error, timeout, 502/503/504) is
//   retried with the same refresh token; the service answers a retry inside
//   its grace window with the same new token.
// - REFRESH_TOKEN_REUSED, INVALID_REFRESH_TOKEN or a revoked session end in one
//   `signedOut` event. After it no call goes out until the next login.
// - A login of a user with TOTP resolves with an `MfaRequired` step instead of
//   the user: `complete(code)` finishes it. Passkeys sign in and register
//   through navigator.credentials (client/webauthn.ts).
import { credentialJson, creationOptions, requestOptions, webauthnAvailable } from './webauthn.ts'

export type AuthMode = 'cookie' | 'header'

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

/**
 * Where header mode keeps the refresh token. The default is memory only (lost
 * when the process ends). On a phone, back it with the platform's secure store
 * (iOS Keychain, Android Keystore-backed storage such as expo-secure-store or
 * react-native-keychain); in a Node program, a file only its owner can read.
 * Never localStorage: any script on the page could read it.
 */
export interface RefreshTokenStorage {
  get (): Promise<string | null> | string | null
  set (token: string): Promise<void> | void
  clear (): Promise<void> | void
}

export function memoryStorage (initial: string | null = null): RefreshTokenStorage {
  let token = initial
  return {
    get: () => token,
    set: (value) => { token = value },
    clear: () => { token = null }
  }
}

/** An error answer of the service, or one of the client's own codes (SIGNED_OUT, NETWORK_ERROR). */
export class AuthError extends Error {
  readonly status: number
  readonly code: string
  constructor (status: number, code: string, message: string) {
    super(message)
    this.name = 'AuthError'
    this.status = status
    this.code = code
  }
}

export type SignedOutReason =
  | 'logout' | 'logout-all' | 'session-ended' | 'other-tab'
  | 'REFRESH_TOKEN_REUSED' | 'INVALID_REFRESH_TOKEN' | 'CSRF_INVALID' | 'VALIDATION'

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
  /** Other origins that accept this service's access tokens; authFetch refuses to send the token anywhere else. */
  apiOrigins?: string[]
  /**
   * Tab coordination (cookie mode in a browser, on by default there): a channel
   * name, or false to turn it off. Needs BroadcastChannel; uses Web Locks when present.
   */
  tabs?: string | boolean
  /** Cookie mode: reads the CSRF token. Default: the `csrf_token` cookie from document.cookie. */
  csrfToken?: () => string | null
  /** Refresh this many seconds before expiry (default: a fifth of the lifetime, at most 60 s). */
  refreshLeeway?: number
  /** Waits between retries of a refresh whose answer was lost, in ms. Keep the sum under REFRESH_REUSE_GRACE. */
  retryDelays?: number[]
  /** Per-request timeout in ms (default 10000). */
  timeout?: number
  fetch?: typeof fetch
}

interface TokenState { accessToken: string, expiresAt: number, lifetime: number, user: User }

type TabMessage =
  | { type: 'tokens', state: TokenState }
  | { type: 'signedOut', reason: SignedOutReason }
  | { type: 'hello' }

const SIGNED_OUT_CODES = new Set(['REFRESH_TOKEN_REUSED', 'INVALID_REFRESH_TOKEN', 'CSRF_INVALID', 'VALIDATION'])
const TRANSIENT_STATUS = new Set([502, 503, 504])
const LINGER_MS = 150

function readCookie (name: string): string | null {
  const doc = (globalThis as { document?: { cookie?: string } }).document
  if (doc?.cookie === undefined) return null
  for (const part of doc.cookie.split(';')) {
    const eq = part.indexOf('=')
    if (eq !== -1 && part.slice(0, eq).trim() === name) return decodeURIComponent(part.slice(eq + 1).trim())
  }
  return null
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

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

async function errorOf (res: Response): Promise<AuthError> {
  let code = `HTTP_${res.status}`
  let message = res.statusText || `request failed with status ${res.status}`
  try {
    const body = await res.json()
    if (typeof body?.code === 'string') code = body.code
    if (typeof body?.message === 'string') message = body.message
  } catch {}
  return new AuthError(res.status, code, message)
}

/** Tabs of one origin: a shared lock and a message channel. */
class Tabs {
  private channel: BroadcastChannel
  private lockName: string
  constructor (name: string, onMessage: (msg: TabMessage) => void) {
    this.lockName = `${name}:refresh`
    this.channel = new BroadcastChannel(name)
    this.channel.onmessage = (event: MessageEvent) => onMessage(event.data as TabMessage)
  }

  async exclusive<T> (fn: () => Promise<T>): Promise<T> {
    const locks = (globalThis as { navigator?: { locks?: { request: (name: string, cb: () => Promise<void>) => Promise<void> } } }).navigator?.locks
    if (locks === undefined) return fn()
    return new Promise<T>((resolve, reject) => {
      locks.request(this.lockName, async () => {
        await sleep(0)
        try { resolve(await fn()) } catch (err) { reject(err) }
        // Our callers already have their answer; hold the lock a moment longer so
        // the token we broadcast reaches a tab waiting for the lock before it
        // decides whether to refresh again. Costs nothing when no tab waits.
        await sleep(LINGER_MS)
      }).catch(reject)
    })
  }

  post (msg: TabMessage): void { this.channel.postMessage(msg) }
  close (): void { this.channel.close() }
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

class Client implements AuthClient {
  private base: URL
  private mode: AuthMode
  private storage: RefreshTokenStorage
  private fetchImpl: typeof fetch
  private origins: Set<string>
  private csrf: () => string | null
  private leeway: number | undefined
  private retryDelays: number[]
  private timeout: number
  private tabs: Tabs | undefined
  private state: TokenState | null = null
  // 'unknown' until a login or restore says otherwise; a signed-out event fires
  // only on the way from not-signed-out to signed-out.
  private status: 'unknown' | 'in' | 'out' = 'unknown'
  private inflight: Promise<void> | null = null
  private timer: ReturnType<typeof setTimeout> | undefined
  private listeners: { [K in keyof AuthEvents]: Set<Listener<K>> } = { signedIn: new Set(), refreshed: new Set(), signedOut: new Set() }
  private tabAnswer: ((state: TokenState) => void) | undefined

  constructor (options: AuthClientOptions) {
    this.base = new URL(options.baseUrl.endsWith('/') ? options.baseUrl : `${options.baseUrl}/`)
    this.mode = options.mode ?? 'cookie'
    if (this.mode !== 'cookie' && this.mode !== 'header') throw new TypeError('mode must be "cookie" or "header"')
    this.storage = options.storage ?? memoryStorage()
    this.fetchImpl = options.fetch ?? ((input, init) => globalThis.fetch(input, init))
    this.origins = new Set([this.base.origin, ...(options.apiOrigins ?? []).map((o) => new URL(o).origin)])
    this.csrf = options.csrfToken ?? (() => readCookie('csrf_token'))
    this.leeway = options.refreshLeeway
    this.retryDelays = options.retryDelays ?? [250, 750, 1500, 3000]
    this.timeout = options.timeout ?? 10_000
    const inBrowser = typeof (globalThis as { document?: unknown }).document !== 'undefined'
    const wantTabs = options.tabs ?? (this.mode === 'cookie' && inBrowser)
    if (wantTabs !== false && typeof BroadcastChannel !== 'undefined') {
      const name = typeof wantTabs === 'string' ? wantTabs : `auth-client:${this.base.href}`
      this.tabs = new Tabs(name, (msg) => this.onTabMessage(msg))
    }
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
  }

  // --- HTTP -------------------------------------------------------------------

  private url (path: string): URL {
    return new URL(path.replace(/^\//, ''), this.base)
  }

  private async send (path: string, init: RequestInit & { json?: unknown } = {}): Promise<Response> {
    const url = this.url(path)
    const own = url.origin === this.base.origin
    const headers = new Headers(init.headers)
    const { json, ...rest } = init
    if (json !== undefined) headers.set('content-type', 'application/json')
    if (this.mode === 'header' && own) headers.set('x-auth-mode', 'header')
    const request: RequestInit = {
      ...rest,
      headers,
      ...(json !== undefined ? { body: JSON.stringify(json) } : {}),
      // Cookie mode: the refresh cookie must travel to (and be set by) the service's origin.
      credentials: this.mode === 'cookie' && own ? 'include' : 'omit',
      cache: 'no-store'
    }
    if (request.signal === undefined && typeof AbortSignal !== 'undefined' && typeof AbortSignal.timeout === 'function') {
      request.signal = AbortSignal.timeout(this.timeout)
    }
    try {
      return await this.fetchImpl(url, request)
    } catch (err) {
      throw new AuthError(0, 'NETWORK_ERROR', `network error: ${(err as Error).message}`)
    }
  }

  // --- Token state --------------------------------------------------------------

  private leewayMs (state: TokenState): number {
    const seconds = this.leeway ?? Math.min(60, state.lifetime / 5)
    return seconds * 1000
  }

  private fresh (): boolean {
    return this.state !== null && this.state.expiresAt - Date.now() > this.leewayMs(this.state)
  }

  private adopt (state: TokenState, event: 'signedIn' | 'refreshed' | null): void {
    const wasIn = this.status === 'in'
    this.state = state
    this.status = 'in'
    clearTimeout(this.timer)
    const due = Math.max(0, state.expiresAt - this.leewayMs(state) - Date.now())
    this.timer = setTimeout(() => { this.refresh(state.accessToken).catch(() => {}) }, due)
    const t = this.timer as { unref?: () => void }
    t.unref?.() // never keep a Node process alive just to refresh
    if (!wasIn) this.emit('signedIn', { user: state.user })
    else if (event === 'refreshed') this.emit('refreshed', { user: state.user })
  }

  private async takeTokens (body: { access_token: string, expires_in: number, user: User, refresh_token?: string }): Promise<TokenState> {
    if (this.mode === 'header') {
      if (typeof body.refresh_token !== 'string') throw new AuthError(0, 'BAD_RESPONSE', 'no refresh_token in a header-mode answer')
      await this.storage.set(body.refresh_token)
    }
    return { accessToken: body.access_token, expiresAt: Date.now() + body.expires_in * 1000, lifetime: body.expires_in, user: body.user }
  }

  private async signOutLocally (reason: SignedOutReason, tell: boolean): Promise<void> {
    const wasOut = this.status === 'out'
    this.state = null
    this.status = 'out'
    clearTimeout(this.timer)
    if (this.mode === 'header') await this.storage.clear()
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
      this.tabAnswer?.(msg.state)
      if (this.state === null || msg.state.expiresAt > this.state.expiresAt) this.adopt(msg.state, 'refreshed')
    } else if (msg.type === 'signedOut') {
      this.signOutLocally('other-tab', false).catch(() => {})
    }
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
      this.tabs?.post({ type: 'tokens', state })
    }
    return this.tabs !== undefined ? this.tabs.exclusive(run) : run()
  }

  private async refreshRequest (): Promise<TokenState> {
    let init: RequestInit & { json?: unknown }
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
    for (let attempt = 0; ; attempt++) {
      let res: Response | undefined
      let failure: AuthError
      try {
        res = await this.send('/auth/refresh', init)
        if (res.ok) return await this.takeTokens(await res.json())
        failure = await errorOf(res)
      } catch (err) {
        if (!(err instanceof AuthError)) throw err
        failure = err // the answer was lost: the same token again gets the same successor
      }
      if (SIGNED_OUT_CODES.has(failure.code) && res !== undefined && (res.status === 401 || res.status === 403 || res.status === 400)) {
        await this.signOutLocally(failure.code as SignedOutReason, true)
        throw failure
      }
      const transient = res === undefined || TRANSIENT_STATUS.has(res.status)
      if (!transient || attempt >= this.retryDelays.length) throw failure
      await sleep(this.retryDelays[attempt])
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
    this.adopt(state, 'signedIn')
    this.tabs?.post({ type: 'tokens', state })
    return state.user
  }

  async login (username: string, password: string): Promise<LoginResult> {
    const res = await this.send('/auth/login', { method: 'POST', json: { username, password } })
    if (!res.ok) throw await errorOf(res)
    const body = await res.clone().json()
    if (body.mfa_required !== true) return this.signedInWith(res)
    const mfaToken: string = body.mfa_token
    return {
      mfaRequired: true,
      methods: body.methods,
      expiresIn: body.expires_in,
      complete: async (code: string) => this.signedInWith(await this.send('/auth/login/mfa', { method: 'POST', json: { mfa_token: mfaToken, code: code.trim() } }))
    }
  }

  async signInWithPasskey (username?: string): Promise<User> {
    if (!webauthnAvailable()) throw new AuthError(0, 'WEBAUTHN_UNAVAILABLE', 'passkeys need a browser with WebAuthn')
    const res = await this.send('/auth/passkeys/authentication/options', { method: 'POST', json: username === undefined ? {} : { username } })
    if (!res.ok) throw await errorOf(res)
    const credential = await navigator.credentials.get({ publicKey: requestOptions(await res.json()) }) as PublicKeyCredential | null
    if (credential === null) throw new AuthError(0, 'PASSKEY_CANCELLED', 'no passkey was chosen')
    return this.signedInWith(await this.send('/auth/passkeys/authentication', { method: 'POST', json: { response: credentialJson(credential) } }))
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
      if (err instanceof AuthError && (err.code === 'SIGNED_OUT' || SIGNED_OUT_CODES.has(err.code))) return null
      throw err
    }
  }

  async authFetch (path: string, init: RequestInit = {}): Promise<Response> {
    const target = this.url(path)
    if (!this.origins.has(target.origin)) throw new AuthError(0, 'FOREIGN_ORIGIN', `will not send the access token to ${target.origin}`)
    await this.ensureFresh()
    const attempt = async () => {
      const headers = new Headers(init.headers)
      headers.set('authorization', `Bearer ${this.state!.accessToken}`)
      return this.send(target.href, { ...init, headers })
    }
    const used = this.state!.accessToken
    const res = await attempt()
    if (res.status !== 401) return res
    const code = (await errorOf(res.clone())).code
    if (code !== 'TOKEN_EXPIRED' && code !== 'TOKEN_REVOKED') return res
    // Once: a refresh, then the same request again. A revoked session fails the
    // refresh, which signs out; there is no second retry.
    await this.refresh(used)
    return attempt()
  }

  private async json<T> (path: string, init?: RequestInit): Promise<T> {
    const res = await this.authFetch(path, init)
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
    if (this.state !== null) headers.authorization = `Bearer ${this.state.accessToken}`
    let init: RequestInit & { json?: unknown } = { method: 'POST', headers }
    if (this.mode === 'header') {
      const token = await this.storage.get()
      if (token) init = { ...init, json: { refresh_token: token } }
    } else {
      const csrf = this.csrf()
      if (csrf !== null) headers['x-csrf-token'] = csrf
    }
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
