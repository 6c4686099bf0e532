// The client library beside the real service and a real OpenID Provider
// (oidc-provider, test/helpers/oidc-provider.ts), in Node: the service
// listens on its PUBLIC_URL (the provider's redirect URI), and each person is
// one cookie jar that the client's fetch and the browser's navigations share,
// as a browser's do. The service and the provider are both on 127.0.0.1
// (cookies do not separate ports; their cookie names differ).
import type { Browser } from './oidc-provider.ts'
import { oidcApp, type ProviderSpec } from './oidc.ts'
import { createAuthClient, memoryKeyStore, type AuthClient, type AuthClientOptions } from '../../client/index.ts'

type Teardown = Parameters<typeof oidcApp>[0]

export async function oidcService (t: Teardown, opts: { env?: Record<string, string>, specs?: ProviderSpec[] } = {}) {
  const built = await oidcApp(t, 'embedded', { ...opts, listen: true })
  const { idp, publicUrl } = built
  const calls: string[] = []

  /** A person: their browser (one jar for the service and the provider, one DPoP key) and clients that fetch through it. */
  function person () {
    const browser: Browser = idp.newBrowser()
    // One DPoP key per person, as a browser's IndexedDB keeps it across reloads.
    const keys = memoryKeyStore()
    const fetchVia: typeof fetch = async (input, init) => {
      calls.push(`${init?.method ?? 'GET'} ${new URL(String(input)).pathname}`)
      return await browser.fetch(String(input), init)
    }
    /** Node has no document.cookie: the page's view of the csrf_token cookie (same site). */
    const csrfCookie = () => browser.cookiesFor(new URL(`${publicUrl}/`)).find((c) => c.name === 'csrf_token')?.value ?? null
    const client = (options: Partial<AuthClientOptions> = {}): AuthClient => {
      const c = createAuthClient({ baseUrl: publicUrl, mode: 'cookie', fetch: fetchVia, dpop: keys, ...(options.mode !== 'header' ? { csrfToken: csrfCookie } : {}), ...options })
      t.teardown(() => c.close())
      return c
    }
    /**
     * A navigation to `url` (the service's start, or the provider's URL a link
     * answered), through the provider's pages as `sub`, to the service's
     * callback: answers where the callback sends the browser (return_to#…).
     */
    async function roundTrip (url: string, sub: string, o: { deny?: boolean } = {}): Promise<string> {
      let authorization = url
      if (url.startsWith(publicUrl)) {
        const start = await browser.fetch(url)
        if (start.status !== 302) throw new Error(`start answered ${start.status}: ${await start.text()}`)
        authorization = start.headers.get('location')!
      }
      const callback = await idp.authorize(authorization, sub, { browser, deny: o.deny })
      const back = await browser.fetch(callback)
      if (back.status !== 302) throw new Error(`callback answered ${back.status}: ${await back.text()}`)
      return back.headers.get('location')!
    }
    return { browser, client, roundTrip }
  }
  const count = (call: string) => calls.filter((c) => c === call).length
  return { ...built, calls, count, person }
}
