// Step-up in the SPA: "confirm it is you" before a sensitive change. The
// client asks (onReauthRequired) when the service answers REAUTH_REQUIRED or
// MFA_REQUIRED; the Security card's form answers, and the call is sent again once.
import type { ReauthCredentials, ReauthReason } from '../../client/index.ts'

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T

let totpOn = false
let proofAnswer: ((credentials: ReauthCredentials | null) => void) | null = null

/** Whether the user has TOTP (the form then asks for a code with the password). */
export function knowTotp (on: boolean): void { totpOn = on }

/** Shows the Security card's confirmation form; resolves with what the user gave, or null (cancelled). */
export function askForProof (reason: { code: ReauthReason }): Promise<ReauthCredentials | null> {
  const form = $<HTMLFormElement>('reauth')
  // The password alone lifts REAUTH_REQUIRED; MFA_REQUIRED needs the code with it, or a passkey (the only way without TOTP).
  const passkeyOnly = reason.code === 'MFA_REQUIRED' && !totpOn
  $('reauth-why').textContent = reason.code === 'REAUTH_REQUIRED'
    ? 'You signed in a while ago. To make this change, confirm it is you.'
    : passkeyOnly
      ? 'This change needs your second factor: confirm with one of your passkeys.'
      : 'This change needs your second factor: your password and a code from your authenticator app, or a passkey.'
  for (const id of ['reauth-password', 'reauth-confirm']) $(id).hidden = passkeyOnly
  $('reauth-code').hidden = !totpOn
  form.hidden = false
  form.querySelector('input')?.focus()
  proofAnswer?.(null)
  return new Promise((resolve) => { proofAnswer = resolve })
}

function answerProof (credentials: ReauthCredentials | null): void {
  const resolve = proofAnswer
  proofAnswer = null
  const form = $<HTMLFormElement>('reauth')
  form.reset()
  form.hidden = true
  resolve?.(credentials)
}

$<HTMLFormElement>('reauth').addEventListener('submit', (event) => {
  event.preventDefault()
  const data = new FormData(event.currentTarget as HTMLFormElement)
  answerProof({ password: String(data.get('password') ?? ''), code: String(data.get('code') ?? '') })
})
$('reauth-passkey').addEventListener('click', () => answerProof({ passkey: true }))
$('reauth-cancel').addEventListener('click', () => answerProof(null))
