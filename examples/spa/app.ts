// A framework-free SPA on the client library, in cookie mode: the refresh token
// stays in an httpOnly cookie, the access token in this module's memory.
import { AuthError, createAuthClient, type Session, type SignedOutReason, type User } from '../../client/index.ts'

const baseUrl = document.querySelector<HTMLMetaElement>('meta[name="auth-base-url"]')!.content
const auth = createAuthClient({ baseUrl, mode: 'cookie' })

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T
let refreshes = 0

const reasons: Record<SignedOutReason, string> = {
  logout: 'You signed out.',
  'logout-all': 'You signed out everywhere.',
  'session-ended': 'This session was ended.',
  'other-tab': 'You were signed out in another tab.',
  REFRESH_TOKEN_REUSED: 'Your session was ended because its refresh token was used twice (possible theft). Please sign in again.',
  INVALID_REFRESH_TOKEN: 'Your session has ended. Please sign in again.',
  CSRF_INVALID: 'Your session could not be verified. Please sign in again.',
  VALIDATION: 'Your session has ended. Please sign in again.'
}

function notice (text: string | null, kind: 'info' | 'error' = 'info'): void {
  const el = $('notice')
  el.hidden = text === null
  el.textContent = text ?? ''
  el.className = kind === 'error' ? 'error' : ''
}

function show (view: 'loading' | 'signed-out' | 'signed-in'): void {
  for (const id of ['loading', 'signed-out', 'signed-in']) $(id).hidden = id !== view
}

function describe (err: unknown): string {
  if (err instanceof AuthError) return `${err.message} (${err.code})`
  return 'Something went wrong. Please try again.'
}

async function guarded (work: () => Promise<void>): Promise<void> {
  try {
    await work()
  } catch (err) {
    // A sign-out already says why; anything else is worth a line.
    if (!(err instanceof AuthError && (err.code === 'SIGNED_OUT' || !auth.signedIn))) notice(describe(err), 'error')
  }
}

async function loadProtected (): Promise<void> {
  const res = await auth.authFetch('/auth/protected')
  if (!res.ok) throw new AuthError(res.status, 'HTTP_' + res.status, 'could not load the protected message')
  $('protected').textContent = (await res.json()).message
}

function sessionRow (s: Session): HTMLTableRowElement {
  const row = document.createElement('tr')
  row.dataset.session = s.id
  const cells = [new Date(s.createdAt).toLocaleString(), new Date(s.lastUsedAt).toLocaleString(), s.userAgent ?? 'unknown', s.ip ?? '']
  for (const [i, text] of cells.entries()) {
    const td = document.createElement('td')
    td.textContent = text
    if (i === 2) { td.className = 'device'; td.title = text }
    row.append(td)
  }
  const last = document.createElement('td')
  if (s.current) {
    last.textContent = 'this browser'
    last.className = 'current'
  } else {
    const end = document.createElement('button')
    end.type = 'button'
    end.className = 'link'
    end.textContent = 'End'
    end.addEventListener('click', () => guarded(async () => {
      await auth.endSession(s.id)
      await loadSessions()
    }))
    last.append(end)
  }
  row.append(last)
  return row
}

async function loadSessions (): Promise<void> {
  const list = await auth.sessions()
  $('sessions').replaceChildren(...list.map(sessionRow))
}

async function showUser (user: User): Promise<void> {
  $('username').textContent = user.username
  $('roles').textContent = user.roles.join(', ')
  $('refresh-count').textContent = String(refreshes)
  show('signed-in')
  await guarded(async () => { await Promise.all([loadProtected(), loadSessions()]) })
}

auth.on('signedIn', ({ user }) => { notice(null); showUser(user) })
auth.on('refreshed', () => { refreshes++; $('refresh-count').textContent = String(refreshes) })
auth.on('signedOut', ({ reason }) => {
  $('protected').textContent = '…'
  $('sessions').replaceChildren()
  show('signed-out')
  notice(reasons[reason] ?? 'You are signed out.', reason === 'REFRESH_TOKEN_REUSED' ? 'error' : 'info')
})

function credentials (form: HTMLFormElement): [string, string] {
  const data = new FormData(form)
  return [String(data.get('username')), String(data.get('password'))]
}

$<HTMLFormElement>('sign-in').addEventListener('submit', (event) => {
  event.preventDefault()
  const form = event.currentTarget as HTMLFormElement
  guarded(async () => {
    await auth.login(...credentials(form))
    form.reset()
  })
})

$<HTMLFormElement>('sign-up').addEventListener('submit', (event) => {
  event.preventDefault()
  const form = event.currentTarget as HTMLFormElement
  guarded(async () => {
    const [username, password] = credentials(form)
    await auth.register(username, password)
    await auth.login(username, password)
    form.reset()
  })
})

$('reload-message').addEventListener('click', () => guarded(async () => {
  await Promise.all([loadProtected(), loadSessions()])
}))
$('sign-out').addEventListener('click', () => guarded(() => auth.logout()))
$('sign-out-everywhere').addEventListener('click', () => guarded(() => auth.logoutAll()))

// Coming back to the tab: check the session is still alive (it may have been
// ended from another device).
document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible' && auth.signedIn) guarded(loadProtected)
})

$('page-origin').textContent = location.origin
$('api-origin').textContent = new URL(baseUrl).origin

guarded(async () => {
  const user = await auth.restore()
  if (user === null) show('signed-out')
  else if ($('signed-in').hidden) await showUser(user)
}).finally(() => { if (!$('loading').hidden) show('signed-out') })
