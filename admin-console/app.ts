// The admin console: sign-in through the client library (cookie mode, the
// second step, passkeys), then three pages over the admin API. A signed-in
// user without the admin role sees a refusal and nothing else (the API
// refuses them anyway: this page only does not pretend otherwise).
import { createAuthClient, isMfaRequired, type MfaRequired, type User } from '../client/index.ts'
import { adminApi } from './api.ts'
import { byId, status } from './dom.ts'
import { usersPage } from './users.ts'
import { keysPage } from './keys.ts'
import { eventsPage } from './events.ts'

// Same origin as the service: the console is served by it.
const client = createAuthClient({ baseUrl: location.origin, mode: 'cookie' })
const api = adminApi(client)
let pendingStep: MfaRequired | undefined

const pages: Record<string, () => void | Promise<void>> = {
  users: () => usersPage(api),
  keys: () => keysPage(api),
  events: () => eventsPage(api)
}

async function go (name: string): Promise<void> {
  for (const b of byId('nav').querySelectorAll('button')) {
    if (b.dataset.page === name) b.setAttribute('aria-current', 'page')
    else b.removeAttribute('aria-current')
  }
  if (location.hash !== `#${name}`) history.replaceState(null, '', `#${name}`)
  status('')
  try { await pages[name]() } catch (err) { status((err as Error).message, true) }
}

function render (user: User | null): void {
  const admin = user?.roles.includes('admin') === true
  byId('sign-in').hidden = user !== null
  byId('refused').hidden = user === null || admin
  byId('nav').hidden = !admin
  byId('who').hidden = user === null
  byId('who-name').textContent = user === null ? '' : `Signed in as ${user.username}`
  byId('page').replaceChildren()
  if (user === null) {
    byId('password-form').hidden = false
    byId('code-form').hidden = true
    byId('username').focus()
  } else if (admin) {
    const hash = location.hash.slice(1)
    go(hash in pages ? hash : 'users')
  } else {
    byId('refused').querySelector('h2')?.setAttribute('tabindex', '-1')
    byId('refused').querySelector('h2')?.focus()
  }
}

async function attempt (fn: () => Promise<void>): Promise<void> {
  try { await fn() } catch (err) { status((err as Error).message, true) }
}

byId('password-form').addEventListener('submit', (e) => {
  e.preventDefault()
  attempt(async () => {
    const result = await client.login(byId<HTMLInputElement>('username').value, byId<HTMLInputElement>('password').value)
    byId<HTMLInputElement>('password').value = ''
    if (isMfaRequired(result)) {
      pendingStep = result
      byId('password-form').hidden = true
      byId('code-form').hidden = false
      byId('code').focus()
      status('Enter the code from your authenticator')
      return
    }
    status('')
    render(result)
  })
})

byId('code-form').addEventListener('submit', (e) => {
  e.preventDefault()
  attempt(async () => {
    if (pendingStep === undefined) return
    const user = await pendingStep.complete(byId<HTMLInputElement>('code').value)
    pendingStep = undefined
    byId<HTMLInputElement>('code').value = ''
    status('')
    render(user)
  })
})

byId('passkey').addEventListener('click', () => {
  attempt(async () => {
    const username = byId<HTMLInputElement>('username').value.trim()
    render(await client.signInWithPasskey(username === '' ? undefined : username))
  })
})

byId('sign-out').addEventListener('click', () => {
  attempt(async () => {
    await client.logout()
    status('Signed out')
    render(null)
  })
})

for (const b of byId('nav').querySelectorAll('button')) b.addEventListener('click', () => { go(b.dataset.page!) })

// Another tab signing out, or the session ending: back to the sign-in form.
client.on('signedOut', () => render(null))

attempt(async () => render(await client.restore()))
