// The Events page: every stored security event, newest first, filtered by
// type, user and time, a page at a time.
import type { AdminApi, SecurityEvent } from './api.ts'
import { button, field, h, show, status, when } from './dom.ts'

// The types the service records (docs/api.md), offered as suggestions; any other is typed in.
const TYPES = ['login', 'login_failed', 'login_mfa_required', 'login_mfa_failed', 'logout', 'logout_all', 'session_ended', 'refresh_token_reused',
  'user_registered', 'password_changed', 'password_change_failed', 'password_reset', 'password_reset_issued', 'reauthenticated', 'reauth_failed',
  'totp_enabled', 'totp_disabled', 'passkey_registered', 'passkey_deleted', 'passkey_login_failed', 'identity_linked', 'identity_unlinked',
  'oidc_failed', 'backchannel_logout', 'user_created', 'roles_changed', 'user_disabled', 'user_enabled', 'user_logged_out', 'session_revoked',
  'mfa_reset', 'signing_key_rotated', 'signing_key_revoked']

export function eventTable (events: SecurityEvent[]): HTMLElement {
  if (events.length === 0) return h('p', { class: 'muted' }, 'No events.')
  return h('table', { class: 'events' },
    h('thead', {}, h('tr', {}, h('th', {}, 'When'), h('th', {}, 'Type'), h('th', {}, 'User'), h('th', {}, 'By'), h('th', {}, 'Address'), h('th', {}, 'Agent'), h('th', {}, 'Details'))),
    h('tbody', {}, ...events.map((e) => h('tr', {},
      h('td', {}, when(e.at)), h('td', {}, e.type), h('td', { class: 'mono' }, e.userId ?? '—'), h('td', { class: 'mono' }, e.actorId === null ? '—' : e.actorId === e.userId ? 'self' : e.actorId),
      h('td', {}, e.ip ?? '—'), h('td', {}, e.userAgent ?? '—'), h('td', { class: 'mono' }, Object.keys(e.details).length === 0 ? '' : JSON.stringify(e.details))))))
}

export function eventsPage (api: AdminApi, preset: Record<string, string> = {}): void {
  const list = h('div', { id: 'event-list' })
  const more = h('div')
  const input = (id: string) => form.querySelector<HTMLInputElement>(`#${id}`)!.value.trim()
  // datetime-local is the admin's local time; the API takes an instant.
  const instant = (v: string) => v === '' ? '' : new Date(v).toISOString()

  async function load (cursor?: string): Promise<void> {
    const filters = { type: input('event-type'), user: input('event-user'), since: instant(input('event-since')), until: instant(input('event-until')), limit: '50', ...(cursor !== undefined ? { cursor } : {}) }
    const page = await api.events(filters)
    const table = eventTable(page.events)
    if (cursor === undefined) list.replaceChildren(table)
    else list.append(table)
    more.replaceChildren(page.nextCursor !== null ? button('Older events', () => { load(page.nextCursor!).catch((err: Error) => status(err.message, true)) }, { class: 'secondary' }) : '')
    status(`${page.events.length} event${page.events.length === 1 ? '' : 's'}${cursor !== undefined ? ' more' : ''}`)
  }

  const form = h('form', { class: 'filters', onsubmit: (e: Event) => { e.preventDefault(); load().catch((err: Error) => status(`Refused: ${err.message}`, true)) } },
    field('event-type', 'Type', { list: 'event-types', autocomplete: 'off', value: preset.type ?? '' }),
    h('datalist', { id: 'event-types' }, ...TYPES.map((type) => h('option', { value: type }))),
    field('event-user', 'User id', { autocomplete: 'off', value: preset.user ?? '' }),
    field('event-since', 'Since', { type: 'datetime-local' }),
    field('event-until', 'Until', { type: 'datetime-local' }),
    h('button', { type: 'submit' }, 'Filter'))

  show(h('div', { class: 'card' }, h('h2', { tabindex: '-1' }, 'Events'), form, list, more))
  load().catch((err: Error) => status(err.message, true))
}
