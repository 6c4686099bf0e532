// Webhooks per the Standard Webhooks specification: each event POSTed as
// JSON {type, timestamp, data}, signed `v1,<base64 HMAC-SHA256 of
// "id.timestamp.body">`, from the WebhookDelivery outbox. At least once (a
// delivery is done only when the receiver answered 2xx), in event order per
// user (store.ts CLAIM), one sender per delivery across instances (a claim
// holds a lease longer than a POST can last), retried with the same
// webhook-id on the schedule below for 24 h.
import { createHmac } from 'node:crypto'
import type { FastifyBaseLogger } from 'fastify'
import type { Claim, EventStore } from './store.ts'
import { toPublic } from './recorder.ts'

export interface WebhookTarget { url: string, secret: Buffer }

export interface WebhookSchedule {
  /** The first retries, after the first attempt, the second … */
  delaysMs: number[]
  /** Then the gap doubles up to this. */
  maxDelayMs: number
  /** A delivery still failing this long after its event is given up on. */
  giveUpAfterMs: number
  /** A POST that takes longer has failed. */
  timeoutMs: number
  /** How often due deliveries are looked for (events of other instances, retries). */
  pollMs: number
}

export const DEFAULT_SCHEDULE: WebhookSchedule = { delaysMs: [1000, 5000, 30_000], maxDelayMs: 3_600_000, giveUpAfterMs: 86_400_000, timeoutMs: 10_000, pollMs: 1000 }

/** The wait before the next attempt, after `attempts` failed ones. */
export function retryDelay (attempts: number, s: Pick<WebhookSchedule, 'delaysMs' | 'maxDelayMs'>): number {
  const { delaysMs } = s
  if (attempts <= delaysMs.length) return delaysMs[attempts - 1]
  return Math.min(delaysMs[delaysMs.length - 1] * 2 ** (attempts - delaysMs.length), s.maxDelayMs)
}

/** The three headers of a Standard Webhooks message. */
export function sign (secret: Buffer, id: string, timestamp: number, body: string): Record<string, string> {
  const signature = createHmac('sha256', secret).update(`${id}.${timestamp}.${body}`).digest('base64')
  return { 'webhook-id': id, 'webhook-timestamp': String(timestamp), 'webhook-signature': `v1,${signature}` }
}

const BATCH = 16

export function createWebhookSender (deps: { store: EventStore, target: WebhookTarget, log: FastifyBaseLogger, schedule?: Partial<WebhookSchedule> }) {
  const { store, target, log } = deps
  let schedule: WebhookSchedule = { ...DEFAULT_SCHEDULE, ...deps.schedule }
  const counts = { delivered: 0, failures: 0, gaveUp: 0 }
  let timer: NodeJS.Timeout | undefined
  let draining: Promise<void> | undefined
  let again = false
  let stopped = true

  // Outlives any POST (its timeout) and the writes after it: the lease never
  // passes while this instance still holds the delivery.
  const leaseMs = () => schedule.timeoutMs * 2 + 30_000

  async function post (claim: Claim): Promise<{ status: number | null, error?: string }> {
    const row = await store.find(claim.eventId)
    // The event was pruned (kept shorter than the retries): nothing left to send.
    if (row === null) return { status: 410, error: 'event pruned' }
    const event = toPublic(row)
    const body = JSON.stringify({ type: event.type, timestamp: event.at, data: event })
    // Each attempt is signed with its own time (receivers refuse old ones), under the same id.
    const headers = sign(target.secret, `evt_${event.id}`, Math.floor(Date.now() / 1000), body)
    try {
      const res = await fetch(target.url, {
        method: 'POST',
        headers: { ...headers, 'content-type': 'application/json', 'user-agent': 'auth-service-webhooks' },
        body,
        // A redirect is a failure, never followed: the receiver is the URL configured, nothing else.
        redirect: 'manual',
        signal: AbortSignal.timeout(schedule.timeoutMs)
      })
      await res.body?.cancel().catch(() => {})
      return res.status >= 200 && res.status < 300 ? { status: res.status } : { status: res.status, error: `answered ${res.status}` }
    } catch (err) {
      return { status: null, error: (err as Error).name === 'TimeoutError' ? 'timed out' : 'unreachable' }
    }
  }

  async function deliver (claim: Claim): Promise<void> {
    const out = await post(claim)
    if (out.error === undefined) {
      if (await store.delivered(claim, out.status as number)) counts.delivered++
      return
    }
    counts.failures++
    const next = Date.now() + retryDelay(claim.attempts, schedule)
    if (out.status === 410 || next - claim.createdAt.getTime() > schedule.giveUpAfterMs) {
      counts.gaveUp++
      log.warn({ eventId: claim.eventId.toString(), attempts: claim.attempts, error: out.error }, 'webhook given up on')
      await store.gaveUp(claim, out.status, out.error)
    } else {
      await store.retryAt(claim, new Date(next), out.status, out.error)
    }
  }

  async function drain (): Promise<void> {
    for (;;) {
      again = false
      const claims = await store.claim(BATCH, leaseMs())
      // One claim per order key in a batch (an earlier pending one blocks the rest): these may go in parallel.
      await Promise.all(claims.map(deliver))
      if (stopped || (claims.length === 0 && !again)) return
    }
  }

  function wake (): void {
    if (stopped) return
    if (draining !== undefined) { again = true; return }
    draining = drain()
      .catch((err: Error) => { log.warn({ err: { message: err.message } }, 'webhook delivery pass failed; retried shortly') })
      .finally(() => { draining = undefined })
  }

  function arm (): void {
    clearInterval(timer)
    timer = setInterval(wake, schedule.pollMs)
    timer.unref()
  }

  return {
    wake,
    start () { stopped = false; arm(); wake() },
    /** Waits for the deliveries in flight (each bounded by its timeout). */
    async stop () {
      stopped = true
      clearInterval(timer)
      await draining
    },
    /** A shorter schedule (tests; retries in milliseconds). */
    tune (changes: Partial<WebhookSchedule>) { schedule = { ...schedule, ...changes }; if (!stopped) arm() },
    stats: () => ({ ...counts }),
    pending: () => store.pending()
  }
}

export type WebhookSender = ReturnType<typeof createWebhookSender>
