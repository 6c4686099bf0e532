// The client's HTTP: one place that sends to the service, with the mode
// header, credentials, a timeout, a DPoP proof when the session is bound (and
// the one retry RFC 9449 asks for when the service wants a fresh nonce), and
// the service's clock read off every answer's Date header.
import type { DpopSigner } from './dpop.ts'

export type AuthMode = 'cookie' | 'header'

/** An error answer of the service, or one of the client's own codes (SIGNED_OUT, NETWORK_ERROR, TIMEOUT). */
export class AuthError extends Error {
  readonly status: number
  readonly code: string
  /** For a 429: how long the service asked to wait, in ms. */
  readonly retryAfterMs: number | undefined
  constructor (status: number, code: string, message: string, retryAfterMs?: number) {
    super(message)
    this.name = 'AuthError'
    this.status = status
    this.code = code
    this.retryAfterMs = retryAfterMs
  }
}

/** `Retry-After` as ms: seconds, or an HTTP date read against the service's own Date. */
export function retryAfterMs (res: Response): number | undefined {
  const raw = res.headers.get('retry-after')
  if (raw === null) return undefined
  if (/^\d+$/.test(raw.trim())) return Number(raw.trim()) * 1000
  const at = Date.parse(raw)
  const now = Date.parse(res.headers.get('date') ?? '')
  return Number.isNaN(at) || Number.isNaN(now) ? undefined : Math.max(0, at - now)
}

export async function errorOf (res: Response): Promise<AuthError> {
  let code = `HTTP_${res.status}`
  let message = res.statusText || `request failed with status ${res.status}`
  try {
    const body = await res.json()
    if (typeof body?.code === 'string') code = body.code
    if (typeof body?.message === 'string') message = body.message
  } catch {}
  return new AuthError(res.status, code, message, res.status === 429 ? retryAfterMs(res) : undefined)
}

export interface SendInit extends RequestInit {
  json?: unknown
  /** Per-request timeout in ms (default: the transport's). */
  timeoutMs?: number
  /**
   * DPoP: `token-endpoint` for login and refresh (a proof, no `ath`), or the
   * bound access token the request carries (`ath`); absent: no proof.
   */
  proof?: 'token-endpoint' | { accessToken: string }
}

export class Transport {
  readonly base: URL
  readonly mode: AuthMode
  private fetchImpl: typeof fetch
  private timeout: number
  private deviceNow: () => number
  /** The service's clock minus the device's, in ms, from the last answer's Date header. */
  private offset = 0
  dpop: DpopSigner | undefined

  constructor (opts: { base: URL, mode: AuthMode, fetch: typeof fetch, timeout: number, now?: () => number, dpop?: DpopSigner }) {
    this.base = opts.base
    this.mode = opts.mode
    this.fetchImpl = opts.fetch
    this.timeout = opts.timeout
    this.deviceNow = opts.now ?? Date.now
    this.dpop = opts.dpop
  }

  /** Now on the service's clock (ms): what token expiry and proof `iat` are measured against. */
  now (): number { return this.deviceNow() + this.offset }

  url (path: string): URL {
    return new URL(path.replace(/^\//, ''), this.base)
  }

  private learnClock (res: Response, sentAt: number): void {
    const date = Date.parse(res.headers.get('date') ?? '')
    if (Number.isNaN(date)) return
    // Date has whole seconds: the service's time is somewhere in [date, date + 1 s); the answer took some of that.
    const local = (sentAt + this.deviceNow()) / 2
    const offset = date + 500 - local
    // Within a second or two is the header's own resolution: keep the device's clock then.
    this.offset = Math.abs(offset) < 2000 ? 0 : offset
  }

  async send (path: string, init: SendInit = {}): Promise<Response> {
    const url = this.url(path)
    const own = url.origin === this.base.origin
    const headers = new Headers(init.headers)
    const { json, timeoutMs, proof, ...rest } = init
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
    const method = (request.method ?? 'GET').toUpperCase()
    const signer = proof !== undefined ? this.dpop : undefined
    for (let attempt = 0; ; attempt++) {
      const offsetBefore = this.offset
      if (signer !== undefined) {
        headers.set('dpop', await signer.proof(method, `${url.origin}${url.pathname}`, this.now(), typeof proof === 'object' ? proof.accessToken : undefined))
      }
      if (init.signal === undefined || init.signal === null) {
        request.signal = typeof AbortSignal !== 'undefined' && typeof AbortSignal.timeout === 'function' ? AbortSignal.timeout(timeoutMs ?? this.timeout) : undefined
      }
      const sentAt = this.deviceNow()
      let res: Response
      try {
        res = await this.fetchImpl(url, request)
      } catch (err) {
        const name = (err as Error).name
        if (name === 'TimeoutError') throw new AuthError(0, 'TIMEOUT', `no answer within ${timeoutMs ?? this.timeout} ms`)
        throw new AuthError(0, 'NETWORK_ERROR', `network error: ${(err as Error).message}`)
      }
      if (own) this.learnClock(res, sentAt)
      if (signer === undefined || attempt > 0 || (res.status !== 400 && res.status !== 401)) return res
      // RFC 9449 sections 8 and 9: the service wants its nonce; once more with it.
      const nonce = res.headers.get('dpop-nonce')
      if (nonce !== null) signer.nonce = nonce
      const challenge = res.headers.get('www-authenticate') ?? ''
      const wantsNonce = nonce !== null && /use_dpop_nonce/.test(challenge)
      // A proof refused while the device's clock was far off (its iat): once more on the service's clock.
      const clockMoved = /invalid_dpop_proof/.test(challenge) && Math.abs(this.offset - offsetBefore) > 30_000
      if (!wantsNonce && !clockMoved) return res
    }
  }
}
