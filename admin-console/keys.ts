// The Signing keys page: the keys and their states; rotate now, or revoke
// one in an emergency. Each asks first and the list is read again after.
import type { AdminApi } from './api.ts'
import { button, confirmAction, h, show, status, when } from './dom.ts'

export async function keysPage (api: AdminApi): Promise<void> {
  const keys = await api.keys()
  const act = (question: string, done: string, fn: () => Promise<unknown>) => async () => {
    if (!await confirmAction(question)) { status('Cancelled'); return }
    try {
      await fn()
      await keysPage(api)
      status(done)
    } catch (err) { status(`Refused: ${(err as Error).message}`, true) }
  }
  show(h('div', { class: 'card' },
    h('h2', { tabindex: '-1' }, 'Signing keys'),
    h('p', { class: 'muted' }, 'Rotating publishes the next key now; it signs once verifiers can have fetched it. Revoking refuses every token it signed, at once.'),
    h('div', { class: 'row' }, button('Rotate now', act('Publish the next signing key now? No one is signed out.', 'Key rotated', () => api.rotate()))),
    h('table', { id: 'keys' },
      h('thead', {}, h('tr', {}, h('th', {}, 'Key id'), h('th', {}, 'Algorithm'), h('th', {}, 'State'), h('th', {}, 'Created'), h('th', {}, 'Signs from'), h('th', {}, 'Retires'), h('th', {}, 'Revoke'))),
      h('tbody', {}, ...keys.map((k) => h('tr', {},
        h('td', { class: 'mono' }, k.kid), h('td', {}, k.alg), h('td', {}, k.state), h('td', {}, when(k.createdAt)), h('td', {}, when(k.signsFrom)), h('td', {}, when(k.retiresAt)),
        h('td', {}, k.state === 'revoked' || k.state === 'retired'
          ? ''
          : button('Revoke', act(`Revoke key ${k.kid}? Every token it signed is refused at once; sessions refresh into another key.`, 'Key revoked', () => api.revoke(k.kid)), { class: 'danger', 'aria-label': `Revoke key ${k.kid}` }))))))))
}
