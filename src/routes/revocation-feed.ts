// GET /auth/revocations?since=<cursor>: the revocations other services need
// to refuse what this one refuses (logouts, user-wide revocations, revoked
// signing keys), read from PostgreSQL's durable record. A resource server
// polls it every few seconds with the cursor of the last answer and keeps
// its own mirror (examples/resource-server/). The ids it lists appear in
// tokens only, but a list of them is not for everyone: it takes a bearer of
// its own, REVOCATION_FEED_TOKEN, and is off (404) without one.
import type { FastifyInstance } from 'fastify'
import { sameString } from '../sessions/csrf.ts'
import { NotFoundError, TokenInvalidError, TokenMissingError } from '../errors.ts'
import { errors } from './auth/schemas.ts'

// A revocation committed late carries its transaction's start time: each read
// overlaps the previous one by this much, so none is missed (entries repeat; applying one twice changes nothing).
export const FEED_OVERLAP_MS = 30_000

const EntrySchema = {
  type: 'object',
  properties: {
    kind: { type: 'string', enum: ['session', 'user', 'key'] },
    id: { type: 'string' },
    version: { type: 'integer' },
    until: { type: 'integer' }
  },
  required: ['kind', 'id', 'until']
} as const

export default async function revocationFeedRoutes (app: FastifyInstance, opts: { feedToken?: string }) {
  app.get<{ Querystring: { since?: string } }>('/revocations', {
    schema: {
      tags: ['keys'],
      summary: 'Revocations since a cursor, for resource servers that verify tokens themselves (REVOCATION_FEED_TOKEN)',
      description: 'Authorization: Bearer <REVOCATION_FEED_TOKEN>. Entries: a session (refuse tokens with that sid), a user and version (refuse tokens of that sub with a lower ver), a key (refuse tokens with that kid); each until `until` (ms). Poll with since=<next of the last answer>; since=0 reads all that still matter.',
      querystring: { type: 'object', properties: { since: { type: 'string', pattern: '^[0-9]{1,15}$' } } },
      response: { 200: { type: 'object', properties: { entries: { type: 'array', items: EntrySchema }, next: { type: 'integer' } }, required: ['entries', 'next'] }, ...errors(400, 401, 404, 503) }
    }
  }, async function revocations (request, reply) {
    if (opts.feedToken === undefined) throw new NotFoundError('The revocation feed is off (REVOCATION_FEED_TOKEN is not set)')
    const header = request.headers.authorization
    if (header === undefined) throw new TokenMissingError()
    // The scheme is case-insensitive (RFC 7235 section 2.1); the token is compared in constant time.
    const credentials = /^bearer +(\S+) *$/i.exec(header)?.[1] ?? ''
    if (!sameString(credentials, opts.feedToken)) throw new TokenInvalidError()
    const next = Date.now()
    const since = Number(request.query.since ?? 0)
    const entries = await app.revocationRecord.since(since > 0 ? new Date(since - FEED_OVERLAP_MS) : undefined)
    reply.header('cache-control', 'private, no-cache')
    return { entries, next }
  })
}
