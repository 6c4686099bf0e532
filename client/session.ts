// The client's state and the life of its tokens; calls.ts and the wrappers
// in api/ build on it.
// - The access token lives in memory only. It is refreshed shortly before it
//   expires (on the service's clock, read off its Date header, so a device
//   clock hours off neither loops nor expires early), when a page becomes
//   visible or the network comes back near expiry (schedule.ts), and once
//   more when a call comes back 401 TOKEN_EXPIRED or TOKEN_REVOKED (calls.ts).
// - One refresh at a time, however many calls need one (single flight). In a
//   browser, tabs share it too: a Web Lock (stolen from a tab that holds it
//   too long) serializes refreshes across tabs, and a BroadcastChannel hands
//   the new access token (and sign-outs) to every tab (tabs.ts).
// - Only a refused refresh ends a session: a lost answer is sent again inside
//   the service's grace window, a 429 after Retry-After (refresh.ts), a 5xx or
//   network error backs off and is tried again later (schedule.ts).
// - REFRESH_TOKEN_REUSED, INVALID_REFRESH_TOKEN, a refused proof or a revoked
//   session end in one `signedOut` event. After it no call goes out until the
//   next login.
import { AuthError, Transport, errorOf, type AuthMode, type SendInit } from './transport.ts'
import { RefreshRefused, REFUSED_CODES, refreshPolicy, refreshWithBudget, type RefreshPolicy } from './refresh.ts'
import { RefreshSchedule, watchPage } from './schedule.ts'
import { Tabs, type TabMessage } from './tabs.ts'
import { CsrfValue, memoryStorage, type RefreshTokenStorage } from './storage.ts'
import { dpopSigner, type DpopSigner } from './dpop.ts'
import { StepUp, reauthenticatedState } from './reauth.ts'
import { Events } from './events.ts'
import type { AuthClientOptions, ReauthCredentials, SignedOutReason, TokenState, User } from './types.ts'

interface TokenBody { access_token: string, token_type?: string, expires_in: number, user: User, refresh_token?: string, csrf_token?: string }

/** One client's session (internal: index.ts does not export it). */
export class ClientSession {
  readonly mode: AuthMode
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
  private schedule: RefreshSchedule
  /** Cookie mode: whether a refresh has worked since the last login (cookies kept by the browser). */
  private cookiesProven = false
  readonly events = new Events()
  private unwatch: Array<() => void> = []
  /** Step-up: one question to the app at a time (calls.ts sends through it). */
  readonly stepUp: StepUp

  /** `prove` answers a step-up: the client's reauthenticate methods. */
  constructor (options: AuthClientOptions, prove: (proof: ReauthCredentials) => Promise<unknown>) {
    const base = new URL(options.baseUrl.endsWith('/') ? options.baseUrl : `${options.baseUrl}/`)
    this.mode = options.mode ?? 'cookie'
    if (this.mode !== 'cookie' && this.mode !== 'header') throw new TypeError('mode must be "cookie" or "header"')
    this.storage = options.storage ?? memoryStorage()
    const inBrowser = typeof (globalThis as { document?: unknown }).document !== 'undefined'
    this.signer = dpopSigner(options, inBrowser, base)
    this.transport = new Transport({
      base,
      mode: this.mode,
      fetch: options.fetch ?? ((input, init) => globalThis.fetch(input, init)),
      timeout: options.timeout ?? 10_000,
      now: options.now,
      dpop: this.signer
    })
    this.origins = new Set([base.origin, ...(options.apiOrigins ?? []).map((o) => new URL(o).origin)])
    this.csrfValue = new CsrfValue(`auth-client:csrf:${base.href}`)
    this.csrf = options.csrfToken ?? (() => this.csrfValue.get())
    this.leeway = options.refreshLeeway
    this.policy = refreshPolicy(options)
    this.schedule = new RefreshSchedule((stale) => this.refresh(stale), () => this.status === 'in')
    const wantTabs = options.tabs ?? (this.mode === 'cookie' && inBrowser)
    if (wantTabs !== false && typeof BroadcastChannel !== 'undefined') {
      const name = typeof wantTabs === 'string' ? wantTabs : `auth-client:${base.href}`
      this.tabs = new Tabs(name, options.lockWait ?? 10_000, (msg) => this.onTabMessage(msg))
    }
    if (inBrowser) this.unwatch = watchPage(() => this.wake())
    this.stepUp = new StepUp(options.onReauthRequired, prove)
  }

  get user (): User | null { return this.state?.user ?? null }
  get signedIn (): boolean { return this.status === 'in' && this.state !== null }
  /** The tokens held now (the live object: `me()` updates its user). */
  get tokens (): TokenState | null { return this.state }
  /** What proves the session to a refresh (and a logout): the stored refresh token in header mode, the CSRF value in cookie mode. */
  storedRefreshToken (): Promise<string | null> | string | null { return this.storage.get() }
  csrfToken (): string | null { return this.csrf() }

  close (): void {
    this.schedule.stop()
    this.tabs?.close()
    for (const stop of this.unwatch) stop()
  }

  /** A page made visible again, or a network back: refresh now if the token is near its end. */
  private wake (): void {
    if (this.status === 'in' && this.state !== null && !this.fresh()) this.refresh(this.state.accessToken).catch(() => {})
  }

  /** The URL of a call with the access token: only to the service's origin and the apiOrigins. */
  target (path: string): URL {
    const target = this.transport.url(path)
    if (!this.origins.has(target.origin)) throw new AuthError(0, 'FOREIGN_ORIGIN', `will not send the access token to ${target.origin}`)
    return target
  }

  send (path: string, init: SendInit = {}): Promise<Response> {
    return this.transport.send(path, init)
  }

  /** Login, its second steps and refresh carry a proof when DPoP is on. */
  tokenEndpoint (init: SendInit): SendInit {
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

  private adopt (state: TokenState, event: 'signedIn' | 'refreshed' | null): void {
    const wasIn = this.status === 'in'
    this.state = state
    this.status = 'in'
    this.schedule.arm(Math.max(0, state.expiresAt - this.leewayMs(state) - this.transport.now()), state.accessToken)
    if (!wasIn) this.events.emit('signedIn', { user: state.user })
    else if (event === 'refreshed') this.events.emit('refreshed', { user: state.user })
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

  /** Signed out here: tokens, refresh credential and DPoP key forgotten; with `tell`, other tabs too. */
  async signOutLocally (reason: SignedOutReason, tell: boolean): Promise<void> {
    const wasOut = this.status === 'out'
    this.state = null
    this.status = 'out'
    this.schedule.stop()
    if (this.mode === 'header') await this.storage.clear()
    else this.csrfValue.clear()
    // The next session gets a key of its own.
    if (tell) await this.signer?.discard().catch(() => {})
    if (tell) this.tabs?.post({ type: 'signedOut', reason })
    if (!wasOut) this.events.emit('signedOut', { reason })
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
  refresh (stale: string | null): Promise<void> {
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

  async ensureFresh (): Promise<void> {
    if (this.fresh()) return
    if (this.status === 'out') throw new AuthError(401, 'SIGNED_OUT', 'signed out')
    await this.refresh(this.state?.accessToken ?? null)
  }

  /** A login's (or second step's, or passkey's) answer: signed in, every tab too. */
  async signedInWith (res: Response): Promise<User> {
    if (!res.ok) throw await errorOf(res)
    const state = await this.takeTokens(await res.json())
    this.status = 'unknown' // a new sign-in after a sign-out
    this.cookiesProven = false
    this.schedule.reset()
    this.adopt(state, 'signedIn')
    this.broadcast(state)
    return state.user
  }

  /** Cookie mode, back from a provider: the callback set the cookies (its CSRF value rode in the fragment); a refresh takes the tokens. */
  async signedInByCallback (csrf: string | null): Promise<User> {
    if (csrf !== null) this.csrfValue.set(csrf)
    this.state = null
    this.status = 'unknown' // a new sign-in, maybe after a sign-out; no other tab's token is of this session
    this.cookiesProven = false
    await this.refresh(null)
    return this.user!
  }

  /** A reauthentication's answer: a new access token of this session (same binding), its sign-in now; every tab gets it. */
  reauthenticated (body: Parameters<typeof reauthenticatedState>[0]): User {
    const state = reauthenticatedState(body, this.transport.now())
    this.adopt(state, null)
    this.broadcast(state)
    return state.user
  }

  async restore (): Promise<User | null> {
    if (this.fresh()) return this.user
    if (this.tabs !== undefined) {
      // Another tab may hold a fresh token: take it rather than rotate the cookie again.
      const state = await this.tabs.ask()
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
}
