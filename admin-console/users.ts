// The Users page: search, create, and one user's roles, status, reset token,
// MFA reset, sessions and events. Every change asks first and the user's
// panel is read again from the service right after, so what it shows is what
// the service now holds.
import type { AdminApi, AdminUser } from './api.ts'
import { button, confirmAction, field, h, show, status, when } from './dom.ts'
import { eventTable } from './events.ts'

const ROLES = ['admin', 'user']

export function usersPage (api: AdminApi): void {
  const results = h('div', { id: 'search-results' })
  const detail = h('div', { id: 'user-detail' })

  async function search (q: string): Promise<void> {
    const users = await api.search(q)
    results.replaceChildren(users.length === 0
      ? h('p', { class: 'muted' }, 'No user matches.')
      : h('table', {},
        h('thead', {}, h('tr', {}, h('th', {}, 'Username'), h('th', {}, 'Roles'), h('th', {}, 'Status'), h('th', {}, 'Created'), h('th', {}, h('span', { class: 'visually-hidden' }, 'Actions')))),
        h('tbody', {}, ...users.map((u) => h('tr', {},
          h('td', {}, u.username), h('td', {}, u.roles.join(', ')), h('td', {}, u.disabled ? 'disabled' : 'active'), h('td', {}, when(u.createdAt ?? null)),
          h('td', {}, button(`Open ${u.username}`, () => { open(u).catch((err: Error) => status(err.message, true)) }, { class: 'secondary' })))))))
    status(`${users.length} user${users.length === 1 ? '' : 's'} found`)
  }

  /** Reads the user, their sessions and events again, and shows them. */
  async function open (user: AdminUser): Promise<void> {
    const [fresh] = (await api.search(user.id)).filter((u) => u.id === user.id)
    const u = fresh ?? user
    const [sessions, events] = await Promise.all([api.sessions(u.id), api.events({ user: u.id, limit: '20' })])
    const roleBoxes = ROLES.map((role) => h('label', { class: 'inline' }, h('input', { type: 'checkbox', name: 'role', value: role, ...(u.roles.includes(role) ? { checked: true } : {}) }), role))
    // Asks, acts, reads the user again; `after` shows what the action answered in the fresh panel.
    const act = <T>(question: string, done: string, fn: () => Promise<T>, after?: (out: T) => void) => async () => {
      if (!await confirmAction(question)) { status('Cancelled'); return }
      try {
        const out = await fn()
        await open(u)
        after?.(out)
        status(done)
      } catch (err) { status(`Refused: ${(err as Error).message}`, true) }
    }
    const token = h('div', { id: 'reset-token' })
    detail.replaceChildren(h('div', { class: 'card', 'aria-labelledby': 'user-title' },
      h('h2', { id: 'user-title', tabindex: '-1' }, u.username),
      h('p', { class: 'mono' }, `id ${u.id}`),
      h('p', {}, ...u.roles.map((r) => h('span', { class: 'tag' }, r)), h('span', { class: u.disabled ? 'tag off' : 'tag' }, u.disabled ? 'disabled' : 'active')),
      h('fieldset', {}, h('legend', {}, 'Roles'), ...roleBoxes,
        button('Save roles', act(`Change ${u.username}'s roles? Their current access tokens stop working.`, 'Roles changed', () =>
          api.setRoles(u.id, roleBoxes.map((l) => l.querySelector('input')!).filter((i) => i.checked).map((i) => i.value))))),
      h('div', { class: 'row' },
        u.disabled
          ? button('Enable account', act(`Enable ${u.username}?`, 'Account enabled', () => api.setDisabled(u.id, false)))
          : button('Disable account', act(`Disable ${u.username}? Every session ends.`, 'Account disabled', () => api.setDisabled(u.id, true)), { class: 'danger' }),
        button('Issue a password reset token', act(`Issue a reset token for ${u.username}? Every session of theirs ends.`, 'Reset token issued', () => api.resetToken(u.id), (out) => {
          // Shown once: hand it to the user out of band.
          detail.querySelector('#reset-token')?.replaceChildren(
            h('label', { for: 'reset-token-value' }, `One-time reset token (valid ${Math.round(out.expires_in / 60)} min): hand it to the user`),
            h('input', { id: 'reset-token-value', class: 'token mono', readonly: true, value: out.reset_token }))
        })),
        button('Reset MFA', act(`Remove ${u.username}'s TOTP and recovery codes? Every session ends.`, 'MFA reset', () => api.resetMfa(u.id))),
        button('End all sessions', act(`End every session of ${u.username}?`, 'All sessions ended', () => api.endAllSessions(u.id)))),
      token,
      h('h3', {}, `Sessions (${sessions.length})`),
      sessions.length === 0
        ? h('p', { class: 'muted' }, 'No session can refresh.')
        : h('table', { id: 'user-sessions' },
          h('thead', {}, h('tr', {}, h('th', {}, 'Started'), h('th', {}, 'Last used'), h('th', {}, 'Address'), h('th', {}, 'Agent'), h('th', {}, 'Sign-in'), h('th', {}, 'End'))),
          h('tbody', {}, ...sessions.map((s) => h('tr', {},
            h('td', {}, when(s.createdAt)), h('td', {}, when(s.lastUsedAt)), h('td', {}, s.ip ?? '—'), h('td', {}, s.userAgent ?? '—'), h('td', {}, s.amr.join(', ')),
            h('td', {}, button('End session', act(`End this session of ${u.username} (${s.userAgent ?? 'unknown agent'})?`, 'Session ended', () => api.endSession(u.id, s.id)), { class: 'danger', 'aria-label': `End session started ${when(s.createdAt)}` })))))),
      h('h3', {}, 'Recent events'),
      eventTable(events.events)))
    detail.querySelector<HTMLElement>('h2')?.focus()
  }

  const searchForm = h('form', { class: 'filters', onsubmit: (e: Event) => { e.preventDefault(); search((searchForm.querySelector('#q') as HTMLInputElement).value).catch((err: Error) => status(err.message, true)) } },
    field('q', 'Username or user id', { required: true, type: 'search', autocomplete: 'off' }), h('button', { type: 'submit' }, 'Search'))
  const createForm = h('form', {
    class: 'filters',
    onsubmit: async (e: Event) => {
      e.preventDefault()
      const name = (createForm.querySelector('#new-username') as HTMLInputElement).value
      const password = (createForm.querySelector('#new-password') as HTMLInputElement).value
      const admin = (createForm.querySelector('#new-admin') as HTMLInputElement).checked
      if (!await confirmAction(`Create the user ${name}${admin ? ' as an admin' : ''}?`)) { status('Cancelled'); return }
      try {
        const user = await api.create(name, password, admin ? ['admin', 'user'] : ['user'])
        createForm.reset()
        status(`User ${user.username} created`)
        await open(user)
      } catch (err) { status(`Refused: ${(err as Error).message}`, true) }
    }
  }, field('new-username', 'New username', { required: true, autocomplete: 'off' }), field('new-password', 'Password', { type: 'password', required: true, autocomplete: 'new-password' }),
  h('label', { class: 'inline' }, h('input', { type: 'checkbox', id: 'new-admin' }), 'admin'), h('button', { type: 'submit' }, 'Create user'))

  show(
    h('div', { class: 'card' }, h('h2', { tabindex: '-1' }, 'Users'), searchForm, results),
    h('details', { class: 'card' }, h('summary', {}, 'Create a user'), createForm),
    detail
  )
}
