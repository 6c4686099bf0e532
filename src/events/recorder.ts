// Records security events (with their webhook deliveries) and reads them
// back: the admin's list with filters and cursor, a user's own activity, and
// pruning after EVENT_RETENTION_DAYS.
import type { Prisma } from '../generated/prisma/client.ts'
import { ValidationError } from '../errors.ts'
import { isId } from '../db/ids.ts'
import { currentContext } from './context.ts'
import { selfActed, type EventInput } from './details.ts'
import type { EventRow, EventStore, NewEvent } from './store.ts'

export type { EventInput }

export const EVENT_PAGE_MAX = 100
export const OWN_EVENTS = 50

/** An event as the API shows it and webhooks carry it. */
export interface PublicEvent {
  id: string
  type: string
  at: string
  userId: string | null
  actorId: string | null
  ip: string | null
  userAgent: string | null
  details: Record<string, unknown>
}

export function toPublic (row: EventRow): PublicEvent {
  return {
    id: row.id.toString(),
    type: row.type,
    at: row.at.toISOString(),
    userId: row.userId,
    actorId: row.actorId,
    ip: row.ip,
    userAgent: row.userAgent,
    details: (row.details ?? {}) as Record<string, unknown>
  }
}

export interface ListQuery { type?: string, user?: string, since?: string, until?: string, limit?: string, cursor?: string }

function time (name: string, value: string | undefined): Date | undefined {
  if (value === undefined || value === '') return undefined
  const at = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})?)?$/.test(value) ? new Date(value) : new Date(NaN)
  if (Number.isNaN(at.getTime())) throw new ValidationError(`${name} must be a date-time such as 2026-01-31T12:00:00Z`)
  return at
}

export function createEvents (deps: {
  store: EventStore
  /** WEBHOOK_URL set: each event gets a delivery in the outbox. */
  webhooks: boolean
  retentionDays: number
  /** An event was stored (the webhook sender wakes up). */
  onRecorded?: () => void
}) {
  const { store } = deps
  let wake = deps.onRecorded ?? (() => {})

  function complete (input: EventInput): NewEvent {
    const ctx = currentContext()
    const userId = input.userId ?? null
    const actorId = input.actorId ?? ctx?.actor() ?? (selfActed(input.type) ? userId : null)
    return {
      type: input.type,
      userId,
      actorId: actorId !== null && isId(actorId) ? actorId : null,
      ip: (input.ip ?? ctx?.ip ?? null)?.slice(0, 64) ?? null,
      userAgent: ctx?.userAgent?.slice(0, 512) ?? null,
      details: input.details ?? {},
      sessionId: input.sessionId ?? null,
      usernameKey: input.userId == null && input.username !== undefined ? input.username.toLowerCase() : null
    }
  }

  return {
    async record (input: EventInput): Promise<void> {
      await store.insert(complete(input), deps.webhooks)
      wake()
    },

    /**
     * Inside the change's own transaction: the event exists if and only if the
     * change does. The route's log line that follows stores nothing again.
     */
    async recordIn (tx: Prisma.TransactionClient, input: EventInput): Promise<void> {
      await store.insertIn(tx, complete(input), deps.webhooks)
      currentContext()?.storedInTransaction.push(input.type)
    },

    /** Wakes the webhook sender (an event was stored, or its change committed). */
    wake: () => { wake() },
    /** The webhook sender, once it is made (plugins/events.ts). */
    onRecorded (fn: () => void) { wake = fn },

    async list (q: ListQuery): Promise<{ events: PublicEvent[], nextCursor: string | null }> {
      if (q.type !== undefined && !/^[a-z][a-z0-9_]{0,47}$/.test(q.type)) throw new ValidationError('type must be an event type such as login_failed')
      if (q.user !== undefined && !isId(q.user)) throw new ValidationError('user must be a user id')
      const since = time('since', q.since)
      const until = time('until', q.until)
      let beforeId: bigint | undefined
      if (q.cursor !== undefined && q.cursor !== '') {
        const raw = Buffer.from(q.cursor, 'base64url').toString()
        if (!/^[1-9][0-9]{0,18}$/.test(raw)) throw new ValidationError('cursor is not one this service gave out')
        beforeId = BigInt(raw)
      }
      const take = Math.min(Math.max(1, Number(q.limit ?? 50)), EVENT_PAGE_MAX)
      if (!Number.isInteger(take)) throw new ValidationError('limit must be a whole number')
      const rows = await store.list({ type: q.type, userId: q.user, since, until, beforeId }, take + 1)
      const page = rows.slice(0, take)
      return {
        events: page.map(toPublic),
        nextCursor: rows.length > take ? Buffer.from(page[page.length - 1].id.toString()).toString('base64url') : null
      }
    },

    /** The account-activity list: the user's own events, newest first. */
    async forUser (userId: string): Promise<PublicEvent[]> {
      return (await store.list({ userId }, OWN_EVENTS)).map(toPublic)
    },

    async prune (now = Date.now()): Promise<number> {
      return await store.prune(new Date(now - deps.retentionDays * 86_400_000))
    }
  }
}

export type Events = ReturnType<typeof createEvents>
