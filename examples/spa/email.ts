// Email in the SPA: the verification page a mailed `#verify=` link opens,
// "Forgot password?" (the mailed `#reset=` link then opens the existing
// "Set a new password" page), "Email me a code" and its form, and the
// address on the Security card (change it: step-up may ask first). The
// forms are built here, into the page's existing cards: index.html needs no edit.
import type { AuthClient, LoginResult, MfaRequired } from '../../client/index.ts'
import { isMfaRequired } from '../../client/index.ts'

type Guarded = (work: () => Promise<void>) => Promise<void>
type Notice = (text: string | null, kind?: 'info' | 'error') => void

/** What the email calls add to the AuthClient (client/api/email.ts). */
export interface EmailClient {
  verifyEmail: (token: string) => Promise<void>
  changeEmail: (email: string) => Promise<void>
  forgotPassword: (by: { email: string } | { username: string }) => Promise<void>
  requestLoginCode: (email: string) => Promise<void>
  loginWithEmailCode: (email: string, code: string) => Promise<LoginResult>
}

export interface EmailDeps { auth: AuthClient & EmailClient, guarded: Guarded, notice: Notice, onMfa: (step: MfaRequired) => void }

const SENT = 'If that address (or account) can receive mail, a message is on its way. It may take a minute.'

function el<K extends keyof HTMLElementTagNameMap> (tag: K, props: Partial<HTMLElementTagNameMap[K]> = {}, ...children: Array<Node | string>): HTMLElementTagNameMap[K] {
  const node = Object.assign(document.createElement(tag), props)
  node.append(...children)
  return node
}

function field (label: string, props: Partial<HTMLInputElement>): HTMLLabelElement {
  return el('label', {}, `${label} `, el('input', props))
}

/** A card form that runs `work` with its fields on submit, then clears itself. */
function form (id: string, title: string, text: string, fields: HTMLElement[], submit: string, deps: EmailDeps, work: (value: (name: string) => string, f: HTMLFormElement) => Promise<void>): HTMLFormElement {
  const f = el('form', { id, className: 'card', hidden: true }, el('h2', {}, title), el('p', { className: 'muted' }, text), ...fields,
    el('div', { className: 'actions' }, el('button', { type: 'submit' }, submit), el('button', { type: 'button', className: 'secondary', textContent: 'Back', onclick: () => { f.hidden = true; signIn().hidden = false } })))
  f.addEventListener('submit', (event) => {
    event.preventDefault()
    const data = new FormData(f)
    deps.guarded(async () => { await work((name) => String(data.get(name) ?? '').trim(), f) })
  })
  return f
}

const signIn = () => document.getElementById('sign-in') as HTMLFormElement

/** The signed-out screen's "Forgot password?" and "Email me a code", beside the sign-in card. */
export function setUpEmailSignIn (deps: EmailDeps): void {
  const { auth, notice } = deps
  let codeFor = ''
  const forgot = form('forgot-form', 'Forgot your password?', 'Give your username or the email address you verified: we mail you a link to set a new password.',
    [field('Username or email', { name: 'who', required: true, maxLength: 254, autocomplete: 'username' })], 'Email me a link', deps, async (value, f) => {
      const who = value('who')
      await auth.forgotPassword(who.includes('@') ? { email: who } : { username: who })
      f.reset()
      f.hidden = true
      signIn().hidden = false
      notice(SENT)
    })
  const askCode = form('email-code-form', 'Sign in with a code', 'We mail a 6-digit code to your verified address.',
    [field('Email', { name: 'email', type: 'email', required: true, maxLength: 254, autocomplete: 'email' })], 'Email me a code', deps, async (value, f) => {
      codeFor = value('email')
      await auth.requestLoginCode(codeFor)
      f.hidden = true
      enterCode.hidden = false
      notice(SENT)
    })
  const enterCode = form('email-code-enter', 'Enter your code', 'The code in the mail works once, for 10 minutes.',
    [field('Code', { name: 'code', required: true, maxLength: 6, inputMode: 'numeric', autocomplete: 'one-time-code', pattern: '[0-9]{6}' })], 'Sign in', deps, async (value, f) => {
      const result = await auth.loginWithEmailCode(codeFor, value('code'))
      f.reset()
      f.hidden = true
      signIn().hidden = false
      if (isMfaRequired(result)) deps.onMfa(result)
    })
  const links = el('p', { className: 'actions' },
    el('button', { id: 'forgot-password', type: 'button', className: 'link', textContent: 'Forgot password?', onclick: () => { signIn().hidden = true; forgot.hidden = false; notice(null) } }),
    el('button', { id: 'email-code', type: 'button', className: 'link', textContent: 'Email me a code', onclick: () => { signIn().hidden = true; askCode.hidden = false; notice(null) } }))
  signIn().append(links)
  signIn().after(forgot, askCode, enterCode)
}

/** The Security card's address: shown, with a form to change it. */
export function setUpEmailSecurity (deps: EmailDeps): { load: () => Promise<void> } {
  const { auth, notice } = deps
  const status = el('p', { id: 'email-status', className: 'muted', textContent: '…' })
  const change = el('form', { id: 'email-change', className: 'inline' },
    field('New address', { name: 'email', type: 'email', required: true, maxLength: 254, autocomplete: 'email' }),
    el('button', { type: 'submit', textContent: 'Send a link' }))
  change.addEventListener('submit', (event) => {
    event.preventDefault()
    const email = String(new FormData(change).get('email') ?? '').trim()
    deps.guarded(async () => {
      await auth.changeEmail(email)
      change.reset()
      notice(`We mailed a link to ${email}: open it to make it your address. Until then your current one stays.`)
    })
  })
  const card = el('div', { className: 'factor', id: 'email-card' }, el('h3', {}, 'Email address'), status, change)
  document.getElementById('security')?.append(card)
  return {
    async load () {
      const me = await auth.me() as { email?: string | null, emailVerified?: boolean }
      status.textContent = me.email == null ? 'No address yet: add one to reset your password by mail.' : `${me.email} (${me.emailVerified === true ? 'verified' : 'not verified yet: open the link we mailed'})`
    }
  }
}

/**
 * A mailed `#verify=<token>` link: verifies the address, then takes the
 * token out of the address bar. True when the page was such a link.
 */
export async function verifyFromLink (deps: EmailDeps): Promise<boolean> {
  const token = /^#verify=([A-Za-z0-9_-]{1,128})$/.exec(location.hash)?.[1]
  if (token === undefined) return false
  history.replaceState(null, '', location.pathname)
  try {
    await deps.auth.verifyEmail(token)
    deps.notice('Your email address is verified.')
  } catch (err) {
    const code = (err as { code?: string }).code
    deps.notice(code === 'EMAIL_TAKEN' ? 'Another account verified this address first.' : 'This link is invalid, used or expired: ask for a new one.', 'error')
  }
  return true
}
