// Every query of the SecurityEvent and WebhookDelivery tables: recording an
// event (with its webhook delivery, one statement), the lists, pruning, and
// the outbox's claims. The rules are in recorder.ts and webhooks.ts.
import type { Prisma, PrismaClient } from '../generated/prisma/client.ts'

type Tx = Prisma.TransactionClient
type Runner = Pick<PrismaClient, '$queryRawUnsafe' | '$executeRawUnsafe'> | Pick<Tx, '$queryRawUnsafe' | '$executeRawUnsafe'>

/** What a recorder writes; `sessionId` and `username` only find the user when `userId` is missing. */
export interface NewEvent {
  type: string
  userId: string | null
  actorId: string | null
  ip: string | null
  userAgent: string | null
  details: Record<string, unknown>
  /** A session the event names: its user, when the event has none (a logout names only the session). */
  sessionId: string | null
  /** A username the event names: its account, when the event has none (a failed login). */
  usernameKey: string | null
}

export interface EventRow {
  id: bigint
  type: string
  at: Date
  userId: string | null
  actorId: string | null
  ip: string | null
  userAgent: string | null
  details: unknown
}

export interface EventFilter { type?: string, userId?: string, since?: Date, until?: Date, beforeId?: bigint }

/** One claimed delivery: `attempts` counts this one and fences every later write. */
export interface Claim { eventId: bigint, attempts: number, createdAt: Date }

// One statement: the event, its user found by session or username when the
// call site named only those, and its delivery in the outbox when webhooks
// are on. Atomic without a transaction of its own; inside one, with the change.
const INSERT = `
WITH e AS (
  INSERT INTO "SecurityEvent" ("type", "userId", "actorId", "ip", "userAgent", "details")
  VALUES ($1, COALESCE($2::uuid, (SELECT s."userId" FROM "Session" s WHERE s.id = $3::uuid), (SELECT u.id FROM "User" u WHERE u."usernameKey" = $4)),
          $5::uuid, $6, $7, $8::jsonb)
  RETURNING id, "userId"
), d AS (
  INSERT INTO "WebhookDelivery" ("eventId", "orderKey")
  SELECT e.id, COALESCE(e."userId"::text, '-') FROM e WHERE $9::boolean
  RETURNING "eventId"
)
SELECT id FROM e`

// Due, not delivered, and no earlier event of the same order key still
// pending: per-user order. SKIP LOCKED with the lease in the same statement:
// two instances never claim one delivery while its lease runs.
const CLAIM = `
WITH next AS (
  SELECT d."eventId" FROM "WebhookDelivery" d
  WHERE d."deliveredAt" IS NULL AND d."failedAt" IS NULL AND d."nextAttemptAt" <= now()
    AND NOT EXISTS (SELECT 1 FROM "WebhookDelivery" p WHERE p."orderKey" = d."orderKey" AND p."eventId" < d."eventId" AND p."deliveredAt" IS NULL AND p."failedAt" IS NULL)
  ORDER BY d."eventId"
  LIMIT $1
  FOR UPDATE SKIP LOCKED
)
UPDATE "WebhookDelivery" w SET "nextAttemptAt" = now() + $2::int * interval '1 millisecond', attempts = w.attempts + 1
FROM next WHERE w."eventId" = next."eventId"
RETURNING w."eventId", w.attempts, w."createdAt"`

export function createEventStore (deps: { prisma: PrismaClient }) {
  const { prisma } = deps

  async function insertWith (runner: Runner, e: NewEvent, deliver: boolean): Promise<bigint> {
    const rows = await runner.$queryRawUnsafe<Array<{ id: bigint }>>(INSERT,
      e.type, e.userId, e.sessionId, e.usernameKey, e.actorId, e.ip, e.userAgent, JSON.stringify(e.details), deliver)
    return rows[0].id
  }

  return {
    insert: (e: NewEvent, deliver: boolean) => insertWith(prisma, e, deliver),
    insertIn: (tx: Tx, e: NewEvent, deliver: boolean) => insertWith(tx, e, deliver),

    /** Newest first by id: a cursor below an id never skips or repeats a row, whatever is inserted meanwhile. */
    async list (f: EventFilter, take: number): Promise<EventRow[]> {
      return await prisma.securityEvent.findMany({
        where: {
          ...(f.type !== undefined ? { type: f.type } : {}),
          ...(f.userId !== undefined ? { userId: f.userId } : {}),
          ...(f.since !== undefined || f.until !== undefined ? { at: { ...(f.since !== undefined ? { gte: f.since } : {}), ...(f.until !== undefined ? { lt: f.until } : {}) } } : {}),
          ...(f.beforeId !== undefined ? { id: { lt: f.beforeId } } : {})
        },
        orderBy: { id: 'desc' },
        take
      })
    },

    async find (id: bigint): Promise<EventRow | null> {
      return await prisma.securityEvent.findUnique({ where: { id } })
    },

    /** Events older than `before` go, and the deliveries that are done with. */
    async prune (before: Date): Promise<number> {
      await prisma.webhookDelivery.deleteMany({ where: { createdAt: { lt: before }, OR: [{ deliveredAt: { not: null } }, { failedAt: { not: null } }] } })
      return (await prisma.securityEvent.deleteMany({ where: { at: { lt: before } } })).count
    },

    claim: async (limit: number, leaseMs: number): Promise<Claim[]> =>
      await prisma.$queryRawUnsafe<Claim[]>(CLAIM, limit, leaseMs),

    /** False: the lease had passed and another claim owns the row now. */
    async delivered (c: Claim, status: number): Promise<boolean> {
      const n = await prisma.webhookDelivery.updateMany({ where: { eventId: c.eventId, attempts: c.attempts, deliveredAt: null }, data: { deliveredAt: new Date(), lastStatus: status, lastError: null } })
      return n.count > 0
    },

    async retryAt (c: Claim, at: Date, status: number | null, error: string): Promise<void> {
      await prisma.webhookDelivery.updateMany({ where: { eventId: c.eventId, attempts: c.attempts, deliveredAt: null }, data: { nextAttemptAt: at, lastStatus: status, lastError: error.slice(0, 512) } })
    },

    async gaveUp (c: Claim, status: number | null, error: string): Promise<void> {
      await prisma.webhookDelivery.updateMany({ where: { eventId: c.eventId, attempts: c.attempts, deliveredAt: null }, data: { failedAt: new Date(), lastStatus: status, lastError: error.slice(0, 512) } })
    },

    /** Deliveries neither delivered nor given up on (the queue gauge). */
    pending: async (): Promise<number> => await prisma.webhookDelivery.count({ where: { deliveredAt: null, failedAt: null } }),

    async delivery (eventId: bigint) {
      return await prisma.webhookDelivery.findUnique({ where: { eventId } })
    }
  }
}

export type EventStore = ReturnType<typeof createEventStore>
