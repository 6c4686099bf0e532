// GET /auth/events: the signed-in user's own account activity.
import type { FastifyInstance } from 'fastify'
import { errors } from './schemas.ts'
import { EventSchema } from '../admin/events.ts'
import { OWN_EVENTS } from '../../events/recorder.ts'

export default async function ownEventRoutes (app: FastifyInstance) {
  app.get('/events', {
    onRequest: app.authenticate,
    schema: {
      tags: ['sessions'],
      security: [{ bearer: [] }],
      summary: `The user's last ${OWN_EVENTS} security events, newest first (account activity)`,
      description: 'Only events about the user themselves: sign-ins and failures, second steps, password and session changes, and what an admin did to the account.',
      response: { 200: { type: 'array', items: EventSchema }, ...errors(401, 503) }
    }
  }, async function ownEvents (request) {
    return app.events.forUser(request.auth!.sub)
  })
}
