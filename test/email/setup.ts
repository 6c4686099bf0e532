// The email suites' common start: the service with a real SMTP server, and a
// user whose address is verified through the mailed link, as a person does it.
import type { FastifyInstance } from 'fastify'
import { buildApp, type Backend, type TestApp } from '../helpers/app.ts'
import { Client, GOOD_PASSWORD, uniqueName, type Mode } from '../helpers/client.ts'
import { linkToken, smtpSink, type SmtpSink } from '../helpers/smtp.ts'

interface Teardown { teardown: (fn: () => unknown) => void }

export const LINK_BASE = 'https://app.example.test/'

export function mailEnv (sink: SmtpSink, extra: Record<string, string> = {}): Record<string, string> {
  return { SMTP_URL: sink.url, EMAIL_LINK_BASE: LINK_BASE, PUBLIC_URL: 'http://auth.example.test', MAIL_POLL_INTERVAL: '1', ...extra }
}

export async function emailApp (t: Teardown, backend: Backend, opts: { env?: Record<string, string>, logger?: object, sink?: SmtpSink } = {}): Promise<TestApp & { sink: SmtpSink }> {
  const sink = opts.sink ?? await smtpSink(t)
  const built = await buildApp(t, { backend, env: mailEnv(sink, opts.env), ...(opts.logger !== undefined ? { logger: opts.logger } : {}) })
  return { ...built, sink }
}

export const newAddress = (prefix = 'user') => `${uniqueName(prefix).replace(/_/g, '.')}@mail.example.test`

/** Registers with an address, opens the mailed link, signs in: a user with a verified address. */
export async function verifiedUser (app: FastifyInstance, sink: SmtpSink, mode: Mode = 'header'): Promise<{ c: Client, name: string, email: string }> {
  const c = new Client(app, mode)
  const name = uniqueName('u')
  const email = newAddress(name.slice(0, 12))
  const res = await c.request('POST', '/auth/register', { body: { username: name, password: GOOD_PASSWORD, email }, bearer: false })
  if (res.statusCode !== 201) throw new Error(`register: ${res.statusCode} ${res.body}`)
  const before = sink.to(email).length
  const deadline = Date.now() + 15_000
  while (sink.to(email).length === before || sink.to(email).length === 0) {
    if (Date.now() > deadline) throw new Error(`no verification mail for ${email}`)
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
  const mail = sink.to(email).at(-1)!
  const verified = await app.inject({ method: 'POST', url: '/auth/email/verify', payload: { token: linkToken(mail, 'verify') } })
  if (verified.statusCode !== 204) throw new Error(`verify: ${verified.statusCode} ${verified.body}`)
  const login = await c.login(name, GOOD_PASSWORD)
  if (login.statusCode !== 200) throw new Error(`login: ${login.statusCode}`)
  return { c, name, email }
}

/** Waits until `address` has `n` mails. */
export async function mailsTo (sink: SmtpSink, address: string, n = 1, ms = 15_000) {
  const deadline = Date.now() + ms
  while (sink.to(address).length < n) {
    if (Date.now() > deadline) throw new Error(`waited for ${n} mails to ${address}, have ${sink.to(address).length}`)
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
  return sink.to(address)
}

/** Waits a little for mail that must not come (the sender was woken; a poll is 1 s). */
export const settle = (ms = 1500) => new Promise((resolve) => setTimeout(resolve, ms))
