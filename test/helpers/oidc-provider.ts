// A real OpenID Provider for the tests: panva's oidc-provider (certified),
// in this process, on 127.0.0.1 over plain http, driven through its own
// development login and consent pages. No mock of the protocol anywhere.
//
//   const idp = await startIdp({ clients: [{ client_id: 'svc', client_secret: 's3cret', redirect_uris: [callback],
//     backchannel_logout_uri: `${service}/auth/oidc/corp/backchannel-logout` }] })
//   t.teardown(idp.close)
//   idp.accounts.set('alice', { sub: 'alice', email: 'alice@example.com', email_verified: true, preferred_username: 'alice' })
//   const browser = idp.newBrowser()                  // one user agent: its provider session lives in it
//   const callbackUrl = await idp.authorize(startRedirectLocation, 'alice', { browser })
//   // → `${callback}?code=…&state=…&iss=<issuer>` (not fetched): hand it to the relying party
//   await idp.authorize(url, 'alice', { deny: true }) // → `${callback}?error=access_denied&state=…&iss=…`
//   const sent = await idp.endSession(browser)        // resolves after every back-channel POST is answered
//   idp.sign({ iss: idp.issuer, aud: 'svc', … })      // the provider's own key (same kid): negative tests
//   idp.signWithForeignKey(claims)                    // same kid, another key: a forgery
//   await idp.rotateKey({ keepOld: false })           // a new kid signs from now on
//   await idp.stop(); await idp.start()               // connection refused, then back on the same port
//
// API
// - startIdp({ clients, port?, ttlIdToken?, accounts? }) → Idp. `port` 0 or absent: a free port.
// - Idp.issuer `http://127.0.0.1:<port>`; discovery at `${issuer}/.well-known/openid-configuration`.
// - Idp.accounts: sub → claims, read at request time (login as a sub not in the map: an account with
//   only `sub`). Claims by scope: `email` → email, email_verified; `profile` → preferred_username, name.
//   They are in the ID token itself (conformIdTokenClaims off), and at userinfo.
// - Clients: with client_secret, registered `client_secret_basic`, and the provider takes the secret
//   in the body too (it accepts client_secret_post and _basic alike for any client with a secret):
//   openid-client v6's `discovery(url, id, secret)` sends it in the body. Without one, a public
//   client (`none`). PKCE S256 is required of every client (plain is not supported).
//   A client with `backchannel_logout_uri` has `backchannel_logout_session_required`: its ID tokens
//   and logout tokens carry `sid`; a client without one gets no `sid` in its ID tokens.
// - authorize(url, sub, { deny?, browser? }) → the first URL off the provider (the callback), unfetched.
//   Logs in as `sub` on the login page if the browser has no provider session (with one, it is
//   single sign-on: no login page, the session's account is used), then consents. `deny`: logs in,
//   then presses the pages' "Cancel" link at the consent prompt → error=access_denied. A flow that
//   ends at an error page of the provider (bad redirect_uri, unknown client) throws with its text.
// - endSession(browser) → [{ clientId, sub, sid, error? }]: RP-initiated logout at the provider,
//   confirmed ("Yes, sign me out": logout=yes) so back-channel logout goes to every client of the
//   session; the provider awaits those POSTs (2.5 s timeout each, a non-200/204 is an error) before
//   it answers the confirmation, so they are all done when this resolves.
// - sign(claims, header?) / signWithForeignKey(claims, header?): RS256, header { alg, kid } of the
//   provider's current signing key, then `header` merged over it. Claims are signed as given.
// - rotateKey({ keepOld = true }) → the new kid. The provider is rebuilt in place (same port, same
//   sessions, accounts and clients); with keepOld the old key stays in the JWKS, second.
// - stop() closes the listener and every connection (connection refused); start() listens again.
// - errors: server errors the provider hit (it prints nothing; IDP_DEBUG=1 prints them).
//
// Quirks: cookie names are per provider (`idp<port>_session`, `idp<port>_interaction`,
// `idp<port>_interaction_resume`, each with a `.sig`) because cookies do not separate ports and two
// providers run on 127.0.0.1 at once. The authorization response always has `iss` (RFC 9207).
// Every response says `connection: close` (no pooled socket outlives stop()). The provider's
// guard against back-channel URIs on special-use addresses (loopback) is off here: with it, every
// back-channel POST to 127.0.0.1 fails with "fetch failed". Logout tokens have `typ: logout+jwt`.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { randomBytes } from 'node:crypto'
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose'
// @ts-expect-error oidc-provider publishes no types (@types/oidc-provider is not installed)
import { Provider } from 'oidc-provider'

export interface IdpClient {
  client_id: string
  /** Absent: a public client (token_endpoint_auth_method none). */
  client_secret?: string
  redirect_uris: string[]
  backchannel_logout_uri?: string
  post_logout_redirect_uris?: string[]
}

export interface IdpAccount { sub: string, email?: string, email_verified?: boolean, preferred_username?: string, name?: string }

export interface BackchannelResult { clientId: string, sub: string, sid: string, error?: string }

export interface Idp {
  issuer: string
  port: number
  accounts: Map<string, IdpAccount>
  errors: Error[]
  authorize (authorizationUrl: string, sub: string, opts?: { deny?: boolean, browser?: Browser }): Promise<string>
  newBrowser (): Browser
  endSession (browser: Browser): Promise<BackchannelResult[]>
  sign (claims: Record<string, unknown>, header?: Record<string, unknown>): Promise<string>
  signWithForeignKey (claims: Record<string, unknown>, header?: Record<string, unknown>): Promise<string>
  rotateKey (opts?: { keepOld?: boolean }): Promise<string>
  /** The kid the provider signs with now. */
  currentKid (): string
  stop (): Promise<void>
  start (): Promise<void>
  close (): Promise<void>
}

interface Cookie { name: string, value: string, host: string, path: string }

/** One user agent: a cookie jar (host and path scoped, as a browser's) and fetch without following redirects. */
export class Browser {
  #jar = new Map<string, Cookie>()

  async fetch (url: string | URL, init: RequestInit = {}): Promise<Response> {
    const target = new URL(url)
    const headers = new Headers(init.headers)
    const cookie = this.cookiesFor(target).map((c) => `${c.name}=${c.value}`).join('; ')
    if (cookie) headers.set('cookie', cookie)
    const res = await fetch(target, { ...init, headers, redirect: 'manual' })
    for (const line of res.headers.getSetCookie()) this.#store(target, line)
    return res
  }

  cookiesFor (url: URL): Cookie[] {
    return [...this.#jar.values()].filter((c) => c.host === url.hostname && pathMatches(url.pathname, c.path))
  }

  #store (url: URL, line: string): void {
    const [pair, ...attributes] = line.split(';')
    const eq = pair.indexOf('=')
    const name = pair.slice(0, eq).trim()
    const value = pair.slice(eq + 1).trim()
    let path = url.pathname.slice(0, Math.max(1, url.pathname.lastIndexOf('/')))
    let expired = false
    for (const attribute of attributes) {
      const [k, v = ''] = attribute.split('=').map((s) => s.trim())
      const key = k.toLowerCase()
      if (key === 'path' && v.startsWith('/')) path = v
      if (key === 'expires' && Date.parse(v) <= Date.now()) expired = true
      if (key === 'max-age' && Number(v) <= 0) expired = true
    }
    const id = `${url.hostname}|${path}|${name}`
    if (expired) this.#jar.delete(id)
    else this.#jar.set(id, { name, value, host: url.hostname, path })
  }
}

function pathMatches (requestPath: string, cookiePath: string): boolean {
  if (requestPath === cookiePath) return true
  return requestPath.startsWith(cookiePath) && (cookiePath.endsWith('/') || requestPath[cookiePath.length] === '/')
}

// The provider's storage, kept outside it so a provider rebuilt for a new key keeps its sessions.
type Payload = Record<string, unknown> & { uid?: string, grantId?: string, userCode?: string, consumed?: number }
class MapAdapter {
  model: string
  store: Map<string, { payload: Payload, expiresAt: number }>
  constructor (model: string, store: Map<string, { payload: Payload, expiresAt: number }>) {
    this.model = model
    this.store = store
  }

  async upsert (id: string, payload: Payload, expiresIn?: number): Promise<void> {
    this.store.set(`${this.model}:${id}`, { payload, expiresAt: expiresIn ? Date.now() + expiresIn * 1000 : Infinity })
  }

  async find (id: string): Promise<Payload | undefined> {
    const entry = this.store.get(`${this.model}:${id}`)
    if (!entry) return undefined
    if (entry.expiresAt <= Date.now()) {
      this.store.delete(`${this.model}:${id}`)
      return undefined
    }
    return entry.payload
  }

  async #findBy (field: 'uid' | 'userCode', value: string): Promise<Payload | undefined> {
    for (const [key, entry] of this.store) {
      if (key.startsWith(`${this.model}:`) && entry.payload[field] === value) return this.find(key.slice(this.model.length + 1))
    }
    return undefined
  }

  findByUid (uid: string) { return this.#findBy('uid', uid) }
  findByUserCode (userCode: string) { return this.#findBy('userCode', userCode) }

  async consume (id: string): Promise<void> {
    const entry = this.store.get(`${this.model}:${id}`)
    if (entry) entry.payload.consumed = Math.floor(Date.now() / 1000)
  }

  async destroy (id: string): Promise<void> {
    this.store.delete(`${this.model}:${id}`)
  }

  async revokeByGrantId (grantId: string): Promise<void> {
    for (const [key, entry] of this.store) if (entry.payload.grantId === grantId) this.store.delete(key)
  }
}

interface SigningKey { kid: string, privateJwk: JWK, privateKey: CryptoKey }

async function newSigningKey (): Promise<SigningKey> {
  const { privateKey } = await generateKeyPair('RS256', { extractable: true })
  const kid = `k-${randomBytes(6).toString('base64url')}`
  return { kid, privateKey, privateJwk: { ...await exportJWK(privateKey), kid, alg: 'RS256', use: 'sig' } }
}

// Only what this file uses of the provider (a Koa application).
interface OidcProvider {
  callback (): (req: IncomingMessage, res: ServerResponse) => void
  on (event: string, listener: (...args: any[]) => void): void
  silent: boolean
}

const page = (title: string, body: string) =>
  `<!DOCTYPE html><html><head><meta charset="utf-8"><title>${title}</title></head><body><h1>${title}</h1>${body}</body></html>`
const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
/** A page's text, for an error message. */
const pageText = (html: string) => html.replace(/<(head|style|script)[^]*?<\/\1>/g, ' ').replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ').trim()
  .replace(/&#(\d+);/g, (_, n) => String.fromCharCode(Number(n))).replace(/&(amp|lt|gt|quot);/g, (_, e) => ({ amp: '&', lt: '<', gt: '>', quot: '"' })[e as 'amp'])

// The provider writes notices with console.warn/info when it is built (development interactions on):
// expected here, so they are dropped; anything else still prints.
function quietly<T> (build: () => T): T {
  const { warn, info } = console
  const filter = (print: (...a: unknown[]) => void) => (...a: unknown[]) => {
    if (!String(a[0]).startsWith('oidc-provider ')) print(...a)
  }
  console.warn = filter(warn)
  console.info = filter(info)
  try { return build() } finally {
    console.warn = warn
    console.info = info
  }
}

const HOUR = 3600

export async function startIdp (opts: { clients: IdpClient[], port?: number, ttlIdToken?: number, accounts?: IdpAccount[] }): Promise<Idp> {
  const accounts = new Map((opts.accounts ?? []).map((a) => [a.sub, a]))
  const store = new Map<string, { payload: Payload, expiresAt: number }>()
  const cookieKey = randomBytes(32).toString('base64url')
  const errors: Error[] = []
  const backchannel: BackchannelResult[] = []
  const foreign = await newSigningKey()
  let keys = [await newSigningKey()]
  let provider: OidcProvider
  let handler: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => { res.statusCode = 503; res.end() }

  // No keep-alive: stop() must leave no pooled socket behind, so the next request is refused, not reset.
  const server: Server = createServer((req, res) => {
    res.setHeader('connection', 'close')
    handler(req, res)
  })
  let listening = false
  const listen = (port: number) => new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject)
      listening = true
      resolve()
    })
  })
  await listen(opts.port ?? 0)
  const port = (server.address() as AddressInfo).port
  const issuer = `http://127.0.0.1:${port}`

  const clients = opts.clients.map((c) => ({
    client_id: c.client_id,
    redirect_uris: c.redirect_uris,
    grant_types: ['authorization_code'],
    response_types: ['code'],
    ...(c.client_secret === undefined
      ? { token_endpoint_auth_method: 'none' }
      : { client_secret: c.client_secret, token_endpoint_auth_method: 'client_secret_basic' }),
    ...(c.backchannel_logout_uri === undefined
      ? {}
      : { backchannel_logout_uri: c.backchannel_logout_uri, backchannel_logout_session_required: true }),
    ...(c.post_logout_redirect_uris === undefined ? {} : { post_logout_redirect_uris: c.post_logout_redirect_uris })
  }))

  const build = (): OidcProvider => {
    const p: OidcProvider = quietly(() => new Provider(issuer, {
      adapter: (model: string) => new MapAdapter(model, store),
      clients: structuredClone(clients),
      jwks: { keys: keys.map((k) => structuredClone(k.privateJwk)) },
      async findAccount (_ctx: unknown, sub: string) {
        return {
          accountId: sub,
          async claims () {
            const { email, email_verified: verified, preferred_username: username, name } = accounts.get(sub) ?? { sub }
            return Object.fromEntries(Object.entries({ sub, email, email_verified: verified, preferred_username: username, name })
              .filter(([, v]) => v !== undefined))
          }
        }
      },
      claims: {
        openid: ['sub'],
        email: ['email', 'email_verified'],
        profile: ['preferred_username', 'name'],
        acr: null,
        auth_time: null,
        iss: null,
        sid: null
      },
      scopes: ['openid', 'email', 'profile'],
      // Scope claims in the ID token itself, not only at userinfo: what the relying party reads.
      conformIdTokenClaims: false,
      pkce: { required: () => true },
      features: {
        devInteractions: { enabled: true },
        backchannelLogout: { enabled: true },
        rpInitiatedLogout: {
          enabled: true,
          async logoutSource (ctx: { body: string }, form: string) {
            ctx.body = page('Sign out', `${form}<button type="submit" form="op.logoutForm" value="yes" name="logout">Yes, sign me out</button><button type="submit" form="op.logoutForm">No, stay signed in</button>`)
          },
          async postLogoutSuccessSource (ctx: { body: string }) { ctx.body = page('Signed out', '') }
        }
      },
      cookies: {
        keys: [cookieKey],
        names: { session: `idp${port}_session`, interaction: `idp${port}_interaction`, resume: `idp${port}_interaction_resume` }
      },
      ttl: {
        AccessToken: HOUR,
        AuthorizationCode: 60,
        ClientCredentials: 600,
        DeviceCode: 600,
        BackchannelAuthenticationRequest: 600,
        PreAuthorizedCode: 600,
        IdToken: opts.ttlIdToken ?? HOUR,
        RefreshToken: HOUR,
        Interaction: HOUR,
        Session: HOUR,
        Grant: HOUR
      },
      async renderError (ctx: { type: string, body: string }, out: Record<string, string>) {
        ctx.type = 'html'
        ctx.body = page('Error', `<p>${escapeHtml(`${out.error}: ${out.error_description ?? ''}`)}</p>`)
      },
      clientBasedCORS: () => false,
      // Back-channel logout URIs are on loopback here: drop the provider's SSRF guard (special-use IPs).
      fetch: (url: string, init: RequestInit & { dispatcher?: unknown }) => {
        delete init.dispatcher
        return fetch(url, init)
      }
    }))
    p.silent = true
    const keep = (err: Error) => {
      errors.push(err)
      if (process.env.IDP_DEBUG) console.error('oidc-provider error:', err)
    }
    p.on('error', keep)
    p.on('server_error', (_ctx: unknown, err: Error) => keep(err))
    p.on('backchannel.success', (_ctx: unknown, client: { clientId: string }, sub: string, sid: string) =>
      backchannel.push({ clientId: client.clientId, sub, sid }))
    p.on('backchannel.error', (_ctx: unknown, err: Error, client: { clientId: string }, sub: string, sid: string) =>
      backchannel.push({ clientId: client.clientId, sub, sid, error: err.message }))
    return p
  }
  const install = () => {
    provider = build()
    handler = provider.callback()
  }
  install()

  const onProvider = (url: URL) => url.origin === issuer

  // One page of the development interactions: what to post (or the abort link) for this prompt.
  const interactionPage = (html: string) => ({
    action: /<form[^>]*action="([^"]+)"/.exec(html)?.[1]?.replaceAll('&amp;', '&'),
    prompt: /name="prompt" value="([a-z]+)"/.exec(html)?.[1],
    abort: /href="([^"]*\/abort)"/.exec(html)?.[1]?.replaceAll('&amp;', '&')
  })

  const sign = (key: SigningKey, claims: Record<string, unknown>, header: Record<string, unknown> = {}) =>
    new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: keys[0].kid, ...header } as { alg: string }).sign(key.privateKey)

  const stop = async () => {
    if (!listening) return
    listening = false
    const closed = new Promise<void>((resolve) => server.close(() => resolve()))
    server.closeAllConnections()
    await closed
  }

  return {
    issuer,
    port,
    accounts,
    errors,
    newBrowser: () => new Browser(),

    async authorize (authorizationUrl, sub, { deny = false, browser = new Browser() } = {}) {
      let url = new URL(authorizationUrl)
      if (!onProvider(url)) throw new Error(`not an authorization URL of ${issuer}: ${authorizationUrl}`)
      let res = await browser.fetch(url)
      for (let hop = 0; hop < 20; hop++) {
        const location = res.headers.get('location')
        if (res.status >= 300 && res.status < 400 && location) {
          await res.body?.cancel()
          const next = new URL(location, url)
          if (!onProvider(next)) {
            if (deny) throw new Error('deny: the provider asked for no consent (this browser already consented); use a new browser')
            return next.href
          }
          url = next
          res = await browser.fetch(url)
          continue
        }
        const html = await res.text()
        const form = interactionPage(html)
        if (res.status !== 200 || !form.action || !form.prompt) {
          throw new Error(`the provider answered ${res.status} at ${url.pathname}: ${pageText(html).slice(0, 300)}`)
        }
        if (form.prompt === 'consent' && deny) {
          if (!form.abort) throw new Error('no abort link on the consent page')
          const abort = new URL(form.abort, url)
          res = await browser.fetch(abort)
          url = abort
          // the abort ends the interaction with access_denied; the next redirects lead off the provider
          deny = false
          continue
        }
        const fields: Record<string, string> = form.prompt === 'login' ? { prompt: 'login', login: sub, password: 'any password' } : { prompt: 'consent' }
        url = new URL(form.action, url)
        res = await browser.fetch(url, { method: 'POST', body: new URLSearchParams(fields) })
      }
      throw new Error('more than 20 hops at the provider')
    },

    async endSession (browser) {
      const before = backchannel.length
      const ask = await browser.fetch(`${issuer}/session/end`)
      const html = await ask.text()
      const xsrf = /name="xsrf" value="([^"]+)"/.exec(html)?.[1]
      if (ask.status !== 200 || !xsrf) throw new Error(`no logout form at the provider (${ask.status})`)
      const done = await browser.fetch(`${issuer}/session/end/confirm`, { method: 'POST', body: new URLSearchParams({ xsrf, logout: 'yes' }) })
      await done.body?.cancel()
      if (done.status !== 303) throw new Error(`the provider answered ${done.status} to the logout confirmation`)
      return backchannel.slice(before)
    },

    sign: (claims, header) => sign(keys[0], claims, header),
    signWithForeignKey: (claims, header) => sign(foreign, claims, header),
    currentKid: () => keys[0].kid,

    async rotateKey ({ keepOld = true } = {}) {
      const key = await newSigningKey()
      // First in the set: the provider signs with it; the old one (kept) only verifies.
      keys = keepOld ? [key, ...keys] : [key]
      install()
      return key.kid
    },

    stop,
    async start () {
      if (!listening) await listen(port)
    },
    close: stop
  }
}
