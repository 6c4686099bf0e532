// DOM helpers of the console: elements built with textContent only (nothing
// from the API is ever parsed as HTML), the confirmation dialog, the status line.
type Child = Node | string | null | undefined | false
type Attrs = Record<string, string | boolean | ((event: Event) => void)>

export function h<K extends keyof HTMLElementTagNameMap> (tag: K, attrs: Attrs = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag)
  for (const [name, value] of Object.entries(attrs)) {
    if (typeof value === 'function') el.addEventListener(name.replace(/^on/, ''), value)
    else if (value === true) el.setAttribute(name, '')
    else if (value !== false) el.setAttribute(name, value)
  }
  for (const child of children) if (child !== null && child !== undefined && child !== false) el.append(child)
  return el
}

export const byId = <T extends HTMLElement = HTMLElement>(id: string): T => document.getElementById(id) as T

/** A labelled input: the label's `for` names the input, so a screen reader and a click find it. */
export function field (id: string, label: string, attrs: Attrs = {}): HTMLElement {
  return h('div', {}, h('label', { for: id }, label), h('input', { id, name: id, ...attrs }))
}

export function button (label: string, onclick: () => void, attrs: Attrs = {}): HTMLButtonElement {
  return h('button', { type: 'button', onclick, ...attrs }, label)
}

export function status (message: string, error = false): void {
  const el = byId('status')
  el.textContent = message
  el.classList.toggle('error', error)
}

/** Every action asks first: resolves true only for an explicit Confirm (Escape and Cancel say no). */
export function confirmAction (question: string): Promise<boolean> {
  const dialog = byId<HTMLDialogElement>('confirm')
  byId('confirm-text').textContent = question
  const opener = document.activeElement as HTMLElement | null
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => {
      resolve(dialog.returnValue === 'ok')
      // Back where the admin was: keyboard users keep their place.
      opener?.focus()
    }, { once: true })
    dialog.returnValue = ''
    dialog.showModal()
    byId('confirm-cancel').focus()
  })
}

export function when (iso: string | null): string {
  return iso === null ? '—' : new Date(iso).toLocaleString()
}

/** A page's body replaced at once, focus on its heading (announced, and keyboard users start there). */
export function show (...children: Child[]): void {
  const page = byId('page')
  page.replaceChildren(...children.filter((c): c is Node | string => c !== null && c !== undefined && c !== false))
  page.querySelector<HTMLElement>('h2')?.focus()
}
