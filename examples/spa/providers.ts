// Signing in with an OpenID Connect provider, in the SPA: a "Sign in with
// <label>" button per provider the service lists (GET /auth/oidc/providers),
// and the Security card's linked identities (link one, unlink one; both may
// ask for step-up first). Coming back from the provider is app.ts's start:
// completeOidc reads the outcome in the URL's fragment.
import type { AuthClient, LinkedIdentity, OidcProvider } from '../../client/index.ts'

const $ = (id: string) => document.getElementById(id) as HTMLElement
let providers: OidcProvider[] = []

/** This page without its fragment: where the provider's answer comes back. */
const here = () => location.href.replace(/#.*$/, '')

export function labelOf (name: string): string {
  return providers.find((p) => p.name === name)?.label ?? name
}

function button (text: string, className: string, onClick: () => void): HTMLButtonElement {
  const b = document.createElement('button')
  b.type = 'button'
  b.className = className
  b.textContent = text
  b.addEventListener('click', onClick)
  return b
}

/** The providers, once per page: a button each on the sign-in card (none listed: the card stays as it is). */
export async function showProviders (auth: AuthClient, guarded: (work: () => Promise<void>) => Promise<void>): Promise<void> {
  providers = await auth.oidcProviders()
  $('oidc-sign-in').hidden = providers.length === 0
  $('oidc-providers').replaceChildren(...providers.map((p) => button(`Sign in with ${p.label}`, 'secondary', () => {
    // The browser leaves for the provider; the service sends it back here with the outcome in the fragment.
    guarded(async () => { await auth.startOidc(p.name, { returnTo: here() }) })
  })))
}

function identityItem (auth: AuthClient, identity: LinkedIdentity, reload: () => Promise<void>, guarded: (work: () => Promise<void>) => Promise<void>): HTMLLIElement {
  const li = document.createElement('li')
  li.dataset.identity = identity.id
  const name = document.createElement('span')
  name.className = 'identity-provider'
  name.textContent = labelOf(identity.provider)
  const about = document.createElement('span')
  about.className = 'muted'
  about.textContent = `${identity.email !== null ? ` · ${identity.email}` : ''} · linked ${new Date(identity.linkedAt).toLocaleDateString()} `
  const unlink = button('Unlink', 'link', () => guarded(async () => {
    await auth.unlinkIdentity(identity.id)
    await reload()
  }))
  li.append(name, about, unlink)
  return li
}

/** The Security card's "Linked accounts": the user's identities, and a "Link <label>" button per provider. */
export async function loadIdentities (auth: AuthClient, guarded: (work: () => Promise<void>) => Promise<void>): Promise<void> {
  $('identities-card').hidden = providers.length === 0
  if (providers.length === 0) return
  const reload = () => loadIdentities(auth, guarded)
  const list = await auth.identities()
  $('identities').replaceChildren(...list.map((i) => identityItem(auth, i, reload, guarded)))
  $('identities-none').hidden = list.length > 0
  $('identity-links').replaceChildren(...providers.map((p) => button(`Link ${p.label}`, 'secondary', () => guarded(async () => {
    // Step-up first if the service asks; then the browser goes to the provider and comes back with #linked=<name>.
    await auth.linkIdentity(p.name, here())
  }))))
}
