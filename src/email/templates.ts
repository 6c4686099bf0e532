// The mails, as templates an operator can replace: with MAIL_TEMPLATES_DIR
// set, `<name>.subject`, `<name>.txt` and `<name>.html` there take the place
// of the built-in ones below (each file on its own; a missing one falls back).
// `{{field}}` is replaced by the field's value, HTML-escaped in the HTML part.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'

export const TEMPLATE_NAMES = ['verify', 'changed', 'in_use', 'reset', 'login_code'] as const
export type TemplateName = typeof TEMPLATE_NAMES[number]

/** What a template may show: no field is required by every template. */
export interface MailFields { username?: string, link?: string, code?: string, address?: string, minutes?: string }

interface Template { subject: string, text: string, html: string }

const wrap = (body: string) => `<!doctype html><html><body style="font-family:sans-serif;line-height:1.5">${body}</body></html>`

const BUILT_IN: Record<TemplateName, Template> = {
  verify: {
    subject: 'Confirm your email address',
    text: 'Hello {{username}},\n\nConfirm that {{address}} is your address by opening this link within 24 hours:\n\n{{link}}\n\nIf you did not ask for this, ignore this mail.\n',
    html: wrap('<p>Hello {{username}},</p><p>Confirm that {{address}} is your address by opening this link within 24 hours:</p><p><a href="{{link}}">Confirm my address</a></p><p>If you did not ask for this, ignore this mail.</p>')
  },
  changed: {
    subject: 'Your email address was changed',
    text: 'Hello {{username}},\n\nThe email address of your account is now {{address}}; this one is no longer used.\n\nIf you did not make this change, reset your password and contact us.\n',
    html: wrap('<p>Hello {{username}},</p><p>The email address of your account is now {{address}}; this one is no longer used.</p><p>If you did not make this change, reset your password and contact us.</p>')
  },
  in_use: {
    subject: 'Someone tried to use your email address',
    text: 'Hello {{username}},\n\nSomeone tried to add this address to another account. It stays with your account; nothing changed.\n\nIf it was you, sign in with your account instead. If not, you need do nothing.\n',
    html: wrap('<p>Hello {{username}},</p><p>Someone tried to add this address to another account. It stays with your account; nothing changed.</p><p>If it was you, sign in with your account instead. If not, you need do nothing.</p>')
  },
  reset: {
    subject: 'Reset your password',
    text: 'Hello {{username}},\n\nSet a new password by opening this link within {{minutes}} minutes (it works once):\n\n{{link}}\n\nIf you did not ask for this, ignore this mail: your password stays as it is.\n',
    html: wrap('<p>Hello {{username}},</p><p>Set a new password by opening this link within {{minutes}} minutes (it works once):</p><p><a href="{{link}}">Reset my password</a></p><p>If you did not ask for this, ignore this mail: your password stays as it is.</p>')
  },
  login_code: {
    subject: 'Your sign-in code',
    text: 'Hello {{username}},\n\nYour sign-in code is {{code}}. It works once, for {{minutes}} minutes.\n\nIf you did not ask for it, ignore this mail.\n',
    html: wrap('<p>Hello {{username}},</p><p>Your sign-in code is <strong>{{code}}</strong>. It works once, for {{minutes}} minutes.</p><p>If you did not ask for it, ignore this mail.</p>')
  }
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }
export const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => ESCAPES[c])

function fill (template: string, fields: MailFields, escape: (s: string) => string): string {
  return template.replace(/\{\{(\w+)\}\}/g, (_, name: string) => escape(String((fields as Record<string, string | undefined>)[name] ?? '')))
}

export interface RenderedMail { subject: string, text: string, html: string }

/** Loads the templates once (start-up), the operator's over the built-in ones. */
export function loadTemplates (dir: string | undefined) {
  const read = (name: string, part: keyof Template): string | undefined => {
    if (dir === undefined) return undefined
    try { return readFileSync(join(dir, `${name}.${part === 'text' ? 'txt' : part}`), 'utf8') } catch { return undefined }
  }
  const templates = Object.fromEntries(TEMPLATE_NAMES.map((name) => [name, {
    subject: read(name, 'subject')?.trim() ?? BUILT_IN[name].subject,
    text: read(name, 'text') ?? BUILT_IN[name].text,
    html: read(name, 'html') ?? BUILT_IN[name].html
  }])) as Record<TemplateName, Template>

  return {
    render (name: TemplateName, fields: MailFields): RenderedMail {
      const t = templates[name]
      // A subject is a header: one line, whatever a field or the operator's file holds.
      const subject = fill(t.subject, fields, (s) => s).replace(/[\r\n]+/g, ' ').slice(0, 200)
      return { subject, text: fill(t.text, fields, (s) => s), html: fill(t.html, fields, escapeHtml) }
    }
  }
}

export type Templates = ReturnType<typeof loadTemplates>
