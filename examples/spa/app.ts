// A framework-free SPA on the client library, in cookie mode: the refresh token
// stays in an httpOnly cookie, the access token in this module's memory.
import { AuthError, createAuthClient, isMfaRequired, type MfaRequired, type Passkey, type Session, type SignedOutReason, type User } from '../../client/index.ts'
import { askForProof, knowTotp } from './step-up.ts'
import { labelOf, loadIdentities, showProviders } from './providers.ts'
import { setUpEmailSecurity, setUpEmailSignIn, verifyFromLink, type EmailDeps } from './email.ts'
import { loadActivity } from './activity.ts'

const baseUrl = document.querySelector<HTMLMetaElement>('meta[name="auth-base-url"]')!.content
// A sensitive change answered REAUTH_REQUIRED or MFA_REQUIRED asks the user (askForProof), then is sent again once.
const auth = createAuthClient({ baseUrl, mode: 'cookie', onReauthRequired: askForProof })

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

function show (view: 'loading' | 'signed-out' | 'signed-in' | 'reset'): void {
  for (const id of ['loading', 'signed-out', 'signed-in', 'reset']) $(id).hidden = id !== view
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

/** A form whose submit runs `work` with its fields (read at submit); cleared once the work succeeded. */
function onSubmit (id: string, work: (field: (name: string) => string) => Promise<void>): void {
  $<HTMLFormElement>(id).addEventListener('submit', (event) => {
    event.preventDefault()
    const form = event.currentTarget as HTMLFormElement
    const data = new FormData(form)
    guarded(async () => {
      await work((name) => String(data.get(name) ?? ''))
      form.reset()
    })
  })
}

async function loadProtected (): Promise<void> {
  const res = await auth.authFetch('/auth/protected')
  if (!res.ok) throw new AuthError(res.status, 'HTTP_' + res.status, 'could not load the protected message')
  $('protected').textContent = (await res.json()).message
}

function sessionRow (s: Session): HTMLTableRowElement {
  const row = document.createElement('tr')
  row.dataset.session = s.id
  const cells = [new Date(s.createdAt).toLocaleString(), new Date(s.lastUsedAt).toLocaleString(), signInMethod(s.amr) + (s.dpopBound ? ', key-bound' : ''), s.userAgent ?? 'unknown', s.ip ?? '']
  for (const [i, text] of cells.entries()) {
    const td = document.createElement('td')
    td.textContent = text
    if (i === 3) { td.className = 'device'; td.title = text }
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

/** RFC 8176 amr values, as a person reads them. */
function signInMethod (amr: string[]): string {
  if (amr.includes('hwk') || amr.includes('swk')) return 'passkey'
  if (amr.includes('fed')) return amr.includes('otp') ? 'provider + code' : 'provider'
  if (amr.includes('otp')) return 'password + code'
  return amr.includes('pwd') ? 'password' : 'unknown'
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
  await guarded(async () => { await Promise.all([loadProtected(), loadSessions(), loadSecurity(), loadIdentities(auth, guarded), emailCard.load(), loadActivity(auth, $('activity'))]) })
}

// --- Second factors and the password ------------------------------------------

// Served by examples/spa/server.ts from the uqr package (a string: no bundler resolves it).
const QR_MODULE: string = '/vendor/uqr.mjs'

function passkeyItem (p: Passkey): HTMLLIElement {
  const li = document.createElement('li')
  li.dataset.passkey = p.id
  const name = document.createElement('span')
  name.className = 'passkey-name'
  name.textContent = p.name
  const when = document.createElement('span')
  when.className = 'muted'
  when.textContent = ` · added ${new Date(p.createdAt).toLocaleDateString()}${p.lastUsedAt !== null ? `, last used ${new Date(p.lastUsedAt).toLocaleString()}` : ''} `
  const remove = document.createElement('button')
  remove.type = 'button'
  remove.className = 'link'
  remove.textContent = 'Delete'
  remove.addEventListener('click', () => guarded(async () => {
    await auth.deletePasskey(p.id)
    await loadSecurity()
  }))
  li.append(name, when, remove)
  return li
}

async function loadSecurity (): Promise<void> {
  const [status, passkeys] = await Promise.all([auth.mfaStatus(), auth.passkeys()])
  knowTotp(status.totp)
  $('totp-status').textContent = status.totp
    ? `On. ${status.recovery_codes_left} recovery codes left.`
    : 'Off. Signing in with a password alone.'
  $('totp-start').hidden = status.totp || !$('totp-enrol').hidden
  $('totp-disable').hidden = !status.totp
  $('passkeys').replaceChildren(...passkeys.map(passkeyItem))
}

$('totp-start').addEventListener('click', () => guarded(async () => {
  const { secret, otpauthUri } = await auth.enrollTotp()
  // Drawn here from the URI: the secret goes to no other server.
  const { renderSVG } = await import(QR_MODULE)
  const img = $<HTMLImageElement>('totp-qr')
  img.src = 'data:image/svg+xml;charset=utf-8,' + encodeURIComponent(renderSVG(otpauthUri, { border: 2 }))
  $('totp-secret').textContent = secret
  $('totp-enrol').hidden = false
  $('totp-start').hidden = true
}))
onSubmit('totp-confirm', async (field) => {
  const codes = await auth.confirmTotp(field('code'))
  $('totp-enrol').hidden = true
  $('recovery-codes').replaceChildren(...codes.map((c) => Object.assign(document.createElement('li'), { textContent: c })))
  $('recovery').hidden = false
  notice('Authenticator app turned on: from now on, signing in with your password asks for a code.')
  await loadSecurity()
})

onSubmit('totp-disable', async (field) => {
  await auth.disableTotp(field('code'))
  $('recovery').hidden = true
  notice('Authenticator app turned off.')
  await loadSecurity()
})

onSubmit('passkey-add', async (field) => {
  const passkey = await auth.registerPasskey(field('name'))
  notice(`Passkey "${passkey.name}" added: you can sign in with it, no password needed.`)
  await loadSecurity()
})

onSubmit('password-change', async (field) => {
  await auth.changePassword(field('current'), field('next'))
  notice('Password changed. Every other session has been signed out.')
  await loadSessions()
})

auth.on('signedIn', ({ user }) => { notice(null); showUser(user) })
auth.on('refreshed', () => { refreshes++; $('refresh-count').textContent = String(refreshes) })
auth.on('signedOut', ({ reason }) => {
  $('protected').textContent = '…'
  $('sessions').replaceChildren()
  show('signed-out')
  notice(reasons[reason] ?? 'You are signed out.', reason === 'REFRESH_TOKEN_REUSED' ? 'error' : 'info')
})

let pendingMfa: MfaRequired | null = null

function showMfaStep (step: MfaRequired | null): void {
  pendingMfa = step
  $('mfa-step').hidden = step === null
  $('sign-in').hidden = step !== null
  $('sign-up').hidden = step !== null
  if (step !== null) {
    notice(null)
    $('mfa-step').querySelector('input')?.focus()
  }
}

onSubmit('sign-in', async (field) => {
  const result = await auth.login(field('username'), field('password'))
  if (isMfaRequired(result)) showMfaStep(result)
})

onSubmit('mfa-step', async (field) => {
  if (pendingMfa === null) return
  await pendingMfa.complete(field('code'))
  showMfaStep(null)
})
$('mfa-cancel').addEventListener('click', () => showMfaStep(null))

// Email (email.ts): "Forgot password?" and "Email me a code" beside the sign-in card, the address on the Security card.
const emailDeps: EmailDeps = { auth, guarded, notice, onMfa: showMfaStep }
setUpEmailSignIn(emailDeps)
const emailCard = setUpEmailSecurity(emailDeps)

$('passkey-sign-in').addEventListener('click', () => guarded(async () => {
  const username = String(new FormData($<HTMLFormElement>('sign-in')).get('username') ?? '').trim()
  // With a username typed in, that user's passkeys; without, the browser offers the ones it has.
  await auth.signInWithPasskey(username === '' ? undefined : username)
}))

onSubmit('sign-up', async (field) => {
  await auth.register(field('username'), field('password'))
  await auth.login(field('username'), field('password'))
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

// "Set a new password": opened from #reset=<token>, a link an admin handed out.
// The fragment never travels to a server, so the token is in no access log.
const resetToken = /^#reset=([A-Za-z0-9_-]{1,128})$/.exec(location.hash)?.[1]
onSubmit('reset-form', async (field) => {
  await auth.resetPassword(resetToken ?? '', field('password'))
  history.replaceState(null, '', location.pathname)
  show('signed-out')
  notice('Your new password is set. Sign in with it.')
})

/** Back from a provider (its outcome in the fragment), or a session that already exists, or none. */
async function start (): Promise<void> {
  let said: [string, 'info' | 'error'] | null = null
  try {
    const outcome = location.hash === '' ? null : await auth.completeOidc()
    if (outcome !== null && 'linked' in outcome) said = [`Your ${labelOf(outcome.linked)} account is linked: you can sign in with it.`, 'info']
    else if (outcome !== null && isMfaRequired(outcome)) {
      show('signed-out')
      return showMfaStep(outcome)
    }
  } catch (err) {
    said = [describe(err), 'error']
  }
  const user = auth.user ?? await auth.restore()
  if (user === null) show('signed-out')
  else if ($('signed-in').hidden) await showUser(user)
  if (said !== null) notice(...said)
}

if (resetToken !== undefined) {
  show('reset')
} else {
  guarded(async () => {
    await guarded(() => showProviders(auth, guarded)) // without them, the page still works
    // A mailed #verify= link first: it takes its token out of the address bar before start() reads the fragment.
    await verifyFromLink(emailDeps)
    await start()
  }).finally(() => { if (!$('loading').hidden) show('signed-out') })
}
