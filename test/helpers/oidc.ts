// The service beside a real OpenID Provider (test/helpers/oidc-provider.ts):
// one provider named `corp` (or more), registered as a confidential client
// whose redirect and back-channel logout URIs are under the service's
// PUBLIC_URL, and a browser that goes start → provider → callback the way a
// person's does: the service's own cookies in one jar, the provider's in
// another.
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { startIdp, type Browser, type Idp } from './oidc-provider.ts'
import { buildApp, type Backend, type TestApp } from './app.ts'
import { freePort } from './servers.ts'
import { parseSetCookies } from './client.ts'

export const SPA = 'http://spa.test'
export const CLIENT_SECRET = 'the test client secret, 32 bytes or more'

type Teardown = Parameters<typeof buildApp>[0]

export interface ProviderSpec { name: string, trustEmail?: boolean, publicClient?: boolean }

/** Providers (default: `corp`) and the env that configures the service for them on `publicUrl`. */
export async function startProviders (t: Teardown, publicUrl: string, specs: ProviderSpec[] = [{ name: 'corp' }]): Promise<{ idps: Record<string, Idp>, env: Record<string, string> }> {
  const idps: Record<string, Idp> = {}
  const env: Record<string, string> = { PUBLIC_URL: publicUrl, OIDC_PROVIDERS: specs.map((s) => s.name).join(','), OIDC_RETURN_ORIGINS: `${SPA},com.example.app:` }
  for (const spec of specs) {
    const idp = await startIdp({
      clients: [
        {
          client_id: 'auth-service',
          ...(spec.publicClient === true ? {} : { client_secret: CLIENT_SECRET, token_endpoint_auth_method: 'client_secret_basic' as const }),
          redirect_uris: [`${publicUrl}/auth/oidc/${spec.name}/callback`],
          backchannel_logout_uri: `${publicUrl}/auth/oidc/${spec.name}/backchannel-logout`
        },
        // Another application at the same provider: its ID tokens are not for us.
        { client_id: 'another-app', client_secret: 'another secret, also long enough!', redirect_uris: ['http://another.test/cb'] }
      ]
    })
    t.teardown(() => idp.close())
    idps[spec.name] = idp
    const N = spec.name.toUpperCase()
    env[`OIDC_${N}_ISSUER`] = idp.issuer
    env[`OIDC_${N}_CLIENT_ID`] = 'auth-service'
    if (spec.publicClient !== true) env[`OIDC_${N}_CLIENT_SECRET`] = CLIENT_SECRET
    env[`OIDC_${N}_LABEL`] = `${spec.name} SSO`
    env[`OIDC_${N}_TRUST_EMAIL`] = String(spec.trustEmail === true)
  }
  return { idps, env }
}

/** The service (not listening unless asked) with providers; `port`: the PUBLIC_URL's, for a service that listens. */
export async function oidcApp (t: Teardown, backend: Backend, opts: { specs?: ProviderSpec[], env?: Record<string, string>, listen?: boolean } = {}): Promise<TestApp & { idps: Record<string, Idp>, idp: Idp, publicUrl: string, env: Record<string, string> }> {
  const port = await freePort()
  const publicUrl = `http://127.0.0.1:${port}`
  const { idps, env } = await startProviders(t, publicUrl, opts.specs)
  const built = await buildApp(t, { backend, env: { ...env, ...opts.env } })
  if (opts.listen === true) await built.app.listen({ port, host: '127.0.0.1' })
  return { ...built, idps, idp: Object.values(idps)[0], publicUrl, env: { ...env, ...opts.env } }
}

/** A person's browser: the service's cookies (by name) and the provider's own jar. */
export class PersonBrowser {
  cookies = new Map<string, string>()
  idpBrowsers = new Map<Idp, Browser>()

  at (idp: Idp): Browser {
    let b = this.idpBrowsers.get(idp)
    if (b === undefined) { b = idp.newBrowser(); this.idpBrowsers.set(idp, b) }
    return b
  }

  header (): Record<string, string> {
    return this.cookies.size === 0 ? {} : { cookie: [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ') }
  }

  absorb (res: LightMyRequestResponse): void {
    for (const c of parseSetCookies(res)) {
      if (c.attrs['max-age'] === '0' || c.value === '') this.cookies.delete(c.name)
      else this.cookies.set(c.name, c.value)
    }
  }

  async get (app: FastifyInstance, url: string): Promise<LightMyRequestResponse> {
    const res = await app.inject({ method: 'GET', url, headers: this.header() })
    this.absorb(res)
    return res
  }
}

/** The fragment of a redirect's Location, as parameters. */
export function fragmentOf (res: LightMyRequestResponse): URLSearchParams {
  const location = String(res.headers.location ?? '')
  const i = location.indexOf('#')
  return new URLSearchParams(i === -1 ? '' : location.slice(i + 1))
}

/** Path and query of an absolute URL, for app.inject. */
export const pathOf = (url: string) => { const u = new URL(url); return u.pathname + u.search }

export interface SignIn {
  start: LightMyRequestResponse
  /** The provider's redirect back to the service, before the service saw it. */
  callbackUrl: string
  callback: LightMyRequestResponse
  fragment: URLSearchParams
}

/**
 * start → the provider (logging in as `sub`) → callback, in `browser`.
 * `tamper` changes the authorization URL before the provider sees it, or the
 * callback URL before the service does; `callbackApp`: another instance takes the callback.
 */
export async function signInThrough (app: FastifyInstance, idp: Idp, sub: string, opts: {
  provider?: string
  mode?: 'cookie' | 'header'
  returnTo?: string
  browser?: PersonBrowser
  deny?: boolean
  callbackApp?: FastifyInstance
  tamperAuthorization?: (url: URL) => void
  tamperCallback?: (url: URL) => void
} = {}): Promise<SignIn> {
  const browser = opts.browser ?? new PersonBrowser()
  const query = new URLSearchParams({ return_to: opts.returnTo ?? `${SPA}/signed-in`, mode: opts.mode ?? 'cookie' })
  const start = await browser.get(app, `/auth/oidc/${opts.provider ?? 'corp'}/start?${query}`)
  if (start.statusCode !== 302) throw new Error(`start answered ${start.statusCode} ${start.body}`)
  const authorization = new URL(String(start.headers.location))
  opts.tamperAuthorization?.(authorization)
  const callbackUrl = await idp.authorize(authorization.href, sub, { browser: browser.at(idp), deny: opts.deny })
  const cb = new URL(callbackUrl)
  opts.tamperCallback?.(cb)
  const callback = await browser.get(opts.callbackApp ?? app, pathOf(cb.href))
  return { start, callbackUrl, callback, fragment: fragmentOf(callback) }
}
