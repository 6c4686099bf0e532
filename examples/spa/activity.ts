// The "Account activity" card: the user's last security events (GET
// /auth/events through the client library's `events()`), newest first, in
// words. Text only: nothing from the service is parsed as HTML.
import type { AccountEvent } from '../../client/api/events.ts'

const WORDS: Record<string, string> = {
  login: 'Signed in',
  login_failed: 'Failed sign-in (wrong password)',
  login_mfa_required: 'Password accepted; second step asked',
  login_mfa_failed: 'Wrong second-step code',
  passkey_login_failed: 'Passkey sign-in refused',
  oidc_failed: 'Provider sign-in refused',
  logout: 'Signed out',
  logout_all: 'Signed out everywhere',
  session_ended: 'A session was ended',
  refresh_token_reused: 'A session was ended: its refresh token was used twice',
  user_registered: 'Account created',
  password_changed: 'Password changed',
  password_change_failed: 'Password change refused (wrong current password)',
  password_reset: 'Password set with a reset token',
  password_reset_issued: 'An admin issued a password reset',
  reauthenticated: 'Identity confirmed again',
  reauth_failed: 'Identity confirmation refused',
  totp_enabled: 'Authenticator app added',
  totp_disabled: 'Authenticator app removed',
  passkey_registered: 'Passkey added',
  passkey_deleted: 'Passkey removed',
  identity_linked: 'Sign-in provider linked',
  identity_unlinked: 'Sign-in provider unlinked',
  roles_changed: 'Roles changed by an admin',
  user_disabled: 'Account disabled by an admin',
  user_enabled: 'Account enabled by an admin',
  user_logged_out: 'Signed out everywhere by an admin',
  session_revoked: 'A session was ended by an admin',
  mfa_reset: 'Second factor reset by an admin',
  user_created: 'Account created by an admin'
}

export function describeEvent (e: AccountEvent): string {
  return WORDS[e.type] ?? e.type.replace(/_/g, ' ')
}

function row (e: AccountEvent): HTMLTableRowElement {
  const tr = document.createElement('tr')
  if (e.type.endsWith('_failed') || e.type === 'refresh_token_reused') tr.className = 'warn'
  for (const text of [new Date(e.at).toLocaleString(), describeEvent(e), e.ip ?? '', e.userAgent ?? '']) {
    const td = document.createElement('td')
    td.textContent = text
    tr.append(td)
  }
  return tr
}

/** Fills the card's table body (`#activity`) with the user's events. */
export async function loadActivity (auth: { events: () => Promise<AccountEvent[]> }, body: HTMLElement): Promise<void> {
  const list = await auth.events()
  if (list.length > 0) {
    body.replaceChildren(...list.map(row))
    return
  }
  const td = document.createElement('td')
  td.colSpan = 4
  td.textContent = 'No activity yet.'
  const tr = document.createElement('tr')
  tr.append(td)
  body.replaceChildren(tr)
}
