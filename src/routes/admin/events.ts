// GET /admin/events: every stored security event, newest first, by filters
// and cursor. Admins only.
import type { FastifyInstance } from 'fastify'
import { errors } from '../auth/schemas.ts'
import { EVENT_PAGE_MAX, type ListQuery } from '../../events/recorder.ts'

export const EventSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    type: { type: 'string' },
    at: { type: 'string', format: 'date-time' },
    userId: { type: ['string', 'null'] },
    actorId: { type: ['string', 'null'] },
    ip: { type: ['string', 'null'] },
    userAgent: { type: ['string', 'null'] },
    details: { type: 'object', additionalProperties: true }
  },
  required: ['id', 'type', 'at', 'userId', 'actorId', 'ip', 'userAgent', 'details']
} as const

export default async function adminEventRoutes (app: FastifyInstance) {
  app.addHook('onRequest', app.authenticate)
  app.addHook('onRequest', app.requireRole('admin'))

  app.get<{ Querystring: ListQuery }>('/events', {
    schema: {
      tags: ['admin'],
      security: [{ bearer: [] }],
      summary: 'Security events, newest first, by pages',
      description: `Filters: type (an event type), user (a user id: events about that user), since and until (date-times, since inclusive, until exclusive). limit 1 to ${EVENT_PAGE_MAX} (default 50); nextCursor gives the next page, stable while events are added. Errors: 400 VALIDATION.`,
      // Query values are strings; each is checked by the recorder with a sentence that names it.
      querystring: {
        type: 'object',
        properties: {
          type: { type: 'string', maxLength: 48 },
          user: { type: 'string', maxLength: 64 },
          since: { type: 'string', maxLength: 40 },
          until: { type: 'string', maxLength: 40 },
          limit: { type: 'string', pattern: '^[1-9][0-9]{0,8}$' },
          cursor: { type: 'string', maxLength: 64 }
        },
        additionalProperties: false
      },
      response: {
        200: { type: 'object', properties: { events: { type: 'array', items: EventSchema }, nextCursor: { type: ['string', 'null'] } }, required: ['events', 'nextCursor'] },
        ...errors(400, 401, 403, 503)
      }
    }
  }, async function listEvents (request) {
    return app.events.list(request.query)
  })
}
