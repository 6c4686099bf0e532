// The settings of outgoing mail (config.ts holds their row): the SMTP server,
// the sender, where links point, the operator's templates, the sender's poll.
import { resolve } from 'node:path'
import { ConfigError, int, type Env } from './parse.ts'

export interface MailConfig {
  /** smtp:// (STARTTLS when offered) or smtps:// (implicit TLS); undefined: .eml files in development, no email routes in production. */
  smtpUrl: string | undefined
  /** The From address (a plain address, or `Name <address>`). */
  from: string
  /** What a mailed link starts with; `#verify=…` or `#reset=…` is appended. */
  linkBase: string
  /** An operator's templates (`<name>.subject`, `<name>.txt`, `<name>.html`); undefined: the built-in ones. */
  templatesDir: string | undefined
  /** Seconds between the sender's looks at the outbox (an enqueue on this instance wakes it at once). */
  pollInterval: number
}

export const MAIL_NAMES = ['SMTP_URL', 'MAIL_FROM', 'EMAIL_LINK_BASE', 'MAIL_TEMPLATES_DIR', 'MAIL_POLL_INTERVAL', 'PUBLIC_URL', 'PORT']

function from (env: Env): string {
  const raw = env.MAIL_FROM ?? 'Auth service <no-reply@localhost>'
  // A header value: a CR or LF here would let the setting write headers of its own.
  const named = /^([^<>\r\n"]{0,64}) <([^<>\s]+)>$/.exec(raw)
  const address = named !== null ? named[2] : raw
  // A single-label domain (localhost) is fine for a sender.
  if (/[\r\n]/.test(raw) || !/^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$/.test(address)) throw new ConfigError(`MAIL_FROM must be an address (no-reply@example.com) or "Name <no-reply@example.com>", got "${raw.replace(/[\r\n]/g, ' ')}"`)
  return raw
}

function smtpUrl (env: Env): string | undefined {
  const raw = env.SMTP_URL ?? ''
  if (raw === '') return undefined
  let url: URL
  try { url = new URL(raw) } catch { throw new ConfigError('SMTP_URL must be smtp://user:pass@host:port or smtps://…') }
  if (url.protocol !== 'smtp:' && url.protocol !== 'smtps:') throw new ConfigError('SMTP_URL must be smtp://user:pass@host:port (STARTTLS when offered) or smtps://… (implicit TLS)')
  return raw
}

function linkBase (env: Env, smtp: string | undefined): string {
  const raw = env.EMAIL_LINK_BASE ?? ''
  if (raw !== '') {
    let url: URL
    try { url = new URL(raw) } catch { throw new ConfigError('EMAIL_LINK_BASE must be an http(s) URL such as https://app.example.com/') }
    if ((url.protocol !== 'https:' && url.protocol !== 'http:') || url.hash !== '') throw new ConfigError('EMAIL_LINK_BASE must be an http(s) URL with no fragment, such as https://app.example.com/')
    return url.href
  }
  const pub = env.PUBLIC_URL ?? ''
  if (pub !== '') return new URL(pub).origin + '/'
  // Never the request's Host header: a forged one would send the victim's reset link to the forger's site.
  if (smtp !== undefined) throw new ConfigError('SMTP_URL needs PUBLIC_URL or EMAIL_LINK_BASE: mailed links must point at a fixed origin')
  return `http://localhost:${env.PORT ?? '3000'}/`
}

export function mailConfig (env: Env): MailConfig {
  const smtp = smtpUrl(env)
  const dir = env.MAIL_TEMPLATES_DIR ?? ''
  return {
    smtpUrl: smtp,
    from: from(env),
    linkBase: linkBase(env, smtp),
    templatesDir: dir === '' ? undefined : resolve(dir),
    pollInterval: int(env, 'MAIL_POLL_INTERVAL', 5, 1, 300)
  }
}
