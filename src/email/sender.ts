// Delivers the outbox: claims one due mail at a time (SKIP LOCKED and a
// lease, so two instances never take the same mail), renders it, hands it
// to the transport, and on failure tries again later: 1 s, 5 s, 30 s, then
// from a minute doubling up to an hour, with a last attempt 24 h after the
// mail was written. A permanent refusal (an SMTP 5xx) is its last attempt:
// logged and dropped at once, since retrying would be refused the same way.
import type { FastifyBaseLogger } from 'fastify'
import { masked } from './address.ts'
import type { Outbox } from './outbox.ts'
import type { ClaimedMail, EmailStore } from './store.ts'
import { TEMPLATE_NAMES, type TemplateName, type Templates } from './templates.ts'
import type { MailTransport } from './transport.ts'

const FIRST_DELAYS_MS = [1_000, 5_000, 30_000]
const MAX_DELAY_MS = 3600_000
export const GIVE_UP_AFTER_MS = 24 * 3600_000
/** How long a claimed mail is left to its sender before another may take it (past every transport timeout). */
export const LEASE_MS = 5 * 60_000

/** The wait after `attempts` failed attempts. */
export function retryDelay (attempts: number): number {
  if (attempts <= FIRST_DELAYS_MS.length) return FIRST_DELAYS_MS[Math.max(0, attempts - 1)]
  return Math.min(MAX_DELAY_MS, 60_000 * 2 ** (attempts - FIRST_DELAYS_MS.length - 1))
}

/** What to do after a failed attempt: retry at a time, or give up. */
export function afterFailure (mail: { attempts: number, createdAt: Date }, permanent: boolean, now: number): { retryAt: Date } | 'give-up' {
  const deadline = mail.createdAt.getTime() + GIVE_UP_AFTER_MS
  if (permanent || now >= deadline) return 'give-up'
  return { retryAt: new Date(Math.min(now + retryDelay(mail.attempts), deadline)) }
}

const permanentRefusal = (err: { responseCode?: number }) => typeof err.responseCode === 'number' && err.responseCode >= 500 && err.responseCode < 600

export function createSender (deps: { store: EmailStore, outbox: Outbox, templates: Templates, transport: MailTransport, from: string, log: FastifyBaseLogger, pollMs: number }) {
  const { store, outbox, log } = deps
  let timer: NodeJS.Timeout | undefined
  let running: Promise<void> | undefined
  let again = false
  let stopped = true
  const counts = { queued: 0, failures: 0, sent: 0 }

  async function attempt (mail: ClaimedMail): Promise<void> {
    const fields = outbox.open(mail)
    if (fields === undefined || !(TEMPLATE_NAMES as readonly string[]).includes(mail.template)) {
      await store.markFailed(mail.id, mail.attempts, 'the sealed body does not open (another FACTOR key?)')
      counts.failures++
      log.error({ mailId: String(mail.id), template: mail.template }, 'mail dropped: its sealed body does not open')
      return
    }
    const rendered = deps.templates.render(mail.template as TemplateName, fields)
    try {
      await deps.transport.deliver({ ...rendered, to: mail.recipient, from: deps.from }, { link: fields.link, code: fields.code })
    } catch (err) {
      const e = err as Error & { responseCode?: number, code?: string }
      counts.failures++
      const reason = `${e.code ?? 'ERROR'} ${e.responseCode ?? ''} ${e.message}`.replace(/\s+/g, ' ').slice(0, 300)
      const next = afterFailure(mail, permanentRefusal(e), Date.now())
      if (next === 'give-up') {
        await store.markFailed(mail.id, mail.attempts, reason)
        log.error({ mailId: String(mail.id), to: masked(mail.recipient), template: mail.template, attempts: mail.attempts, reason }, 'mail dropped after its last attempt')
      } else {
        await store.markRetry(mail.id, mail.attempts, next.retryAt, reason)
        log.warn({ mailId: String(mail.id), to: masked(mail.recipient), attempts: mail.attempts, retryAt: next.retryAt.toISOString(), reason }, 'mail not sent; retried later')
      }
      return
    }
    await store.markSent(mail.id, mail.attempts)
    counts.sent++
  }

  async function drain (): Promise<void> {
    do {
      again = false
      for (;;) {
        if (stopped) return
        const [mail] = await store.claim(1, LEASE_MS)
        if (mail === undefined) break
        await attempt(mail)
      }
      counts.queued = await store.queued()
      // A wake-up that came while this pass ran: another pass (stop() ends it at the first check).
    } while (again)
  }

  function run (): void {
    if (stopped) return
    if (running !== undefined) { again = true; return }
    clearTimeout(timer)
    running = drain()
      .catch((err) => { log.warn({ err: { message: (err as Error).message } }, 'mail sender: the outbox could not be read; retried at the next poll') })
      .finally(() => {
        running = undefined
        if (!stopped) timer = setTimeout(run, again ? 0 : deps.pollMs).unref()
      })
  }

  return {
    kind: deps.transport.kind,
    start (): void {
      if (!stopped) return
      stopped = false
      run()
    },
    /** A mail was committed on this instance: look now rather than at the next poll. */
    wake: run,
    /** Stops polling and waits for the attempt in flight (app close). */
    async stop (): Promise<void> {
      stopped = true
      clearTimeout(timer)
      await running
      deps.transport.close()
    },
    /** For the metrics: mails waiting (as of the last look) and failed attempts so far. */
    stats: () => ({ ...counts })
  }
}

export type Sender = ReturnType<typeof createSender>
