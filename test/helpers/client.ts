// A client that knows only docs/api.md, over app.inject: it keeps a cookie
// jar in cookie mode and the refresh token in header mode.
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'

export type Mode = 'cookie' | 'header'
export const modes: Mode[] = ['cookie', 'header']

export interface SetCookie { name: string, value: string, attrs: Record<string, string | true> }

export function parseSetCookies (res: LightMyRequestResponse): SetCookie[] {
  const raw = res.headers['set-cookie']
  const list = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw]
  return list.map((line) => {
    const [pair, ...rest] = line.split(';').map((s) => s.trim())
    const eq = pair.indexOf('=')
    const attrs: Record<string, string | true> = {}
    for (const a of rest) {
      const i = a.indexOf('=')
      if (i === -1) attrs[a.toLowerCase()] = true
      else attrs[a.slice(0, i).toLowerCase()] = a.slice(i + 1)
    }
    return { name: pair.slice(0, eq), value: decodeURIComponent(pair.slice(eq + 1)), attrs }
  })
}

export class Client {
  jar = new Map<string, string>()
  accessToken?: string
  refreshToken?: string
  app: FastifyInstance
  mode: Mode
  constructor (app: FastifyInstance, mode: Mode) {
    this.app = app
    this.mode = mode
  }

  private absorb (res: LightMyRequestResponse): void {
    for (const c of parseSetCookies(res)) {
      if (c.attrs['max-age'] === '0' || c.value === '') this.jar.delete(c.name)
      else this.jar.set(c.name, c.value)
    }
    if (res.statusCode === 200 && res.headers['content-type']?.toString().includes('json')) {
      const body = res.json()
      if (typeof body.access_token === 'string') this.accessToken = body.access_token
      if (typeof body.refresh_token === 'string') this.refreshToken = body.refresh_token
    }
  }

  cookieHeader (): string | undefined {
    return this.jar.size === 0 ? undefined : [...this.jar].map(([k, v]) => `${k}=${v}`).join('; ')
  }

  async request (method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', url: string, opts: { body?: unknown, headers?: Record<string, string>, bearer?: boolean, app?: FastifyInstance } = {}) {
    const headers: Record<string, string> = { 'x-auth-mode': this.mode, ...opts.headers }
    const cookie = this.cookieHeader()
    if (cookie !== undefined && this.mode === 'cookie') headers.cookie = cookie
    if (opts.bearer !== false && this.accessToken !== undefined && headers.authorization === undefined) headers.authorization = `Bearer ${this.accessToken}`
    // `app`: another instance of the service (same database and Redis) answers this one.
    const res = await (opts.app ?? this.app).inject({ method, url, headers, ...(opts.body !== undefined ? { payload: opts.body as object } : {}) })
    this.absorb(res)
    return res
  }

  register (username: string, password: string) {
    return this.request('POST', '/auth/register', { body: { username, password }, bearer: false })
  }

  login (username: string, password: string) {
    return this.request('POST', '/auth/login', { body: { username, password }, bearer: false })
  }

  refresh () {
    if (this.mode === 'header') return this.request('POST', '/auth/refresh', { body: { refresh_token: this.refreshToken }, bearer: false })
    return this.request('POST', '/auth/refresh', { headers: { 'x-csrf-token': this.jar.get('csrf_token') ?? '' }, bearer: false })
  }

  logout () {
    if (this.mode === 'header') return this.request('POST', '/auth/logout', { body: { refresh_token: this.refreshToken } })
    return this.request('POST', '/auth/logout', { headers: { 'x-csrf-token': this.jar.get('csrf_token') ?? '' } })
  }

  me () { return this.request('GET', '/auth/me') }
}

let counter = 0
export function uniqueName (prefix = 'user'): string {
  return `${prefix}${process.pid}_${Date.now().toString(36)}_${counter++}`
}

export const GOOD_PASSWORD = 'correct horse battery staple'

/** A new user, registered and signed in. */
export async function signedIn (app: FastifyInstance, prefix = 'user', mode: Mode = 'header'): Promise<{ c: Client, name: string }> {
  const c = new Client(app, mode)
  const name = uniqueName(prefix)
  await c.register(name, GOOD_PASSWORD)
  const res = await c.login(name, GOOD_PASSWORD)
  if (res.statusCode !== 200) throw new Error(`login of a new user: ${res.statusCode} ${res.body}`)
  return { c, name }
}
