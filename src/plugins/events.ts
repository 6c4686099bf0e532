// Stored security events, glue only: every request runs in an event context
// (events/context.ts: address, agent, actor), an answer waits for the events
// its request logged, and with WEBHOOK_URL this instance sends the outbox.
// After plugins/services.ts (the recorder), before the routes.
import fp from 'fastify-plugin'
import type { AsyncResource } from 'node:async_hooks'
import type { FastifyRequest } from 'fastify'
import type { Config } from '../config.ts'
import { enterContext, type EventContext } from '../events/context.ts'
import { createEventStore } from '../events/store.ts'
import { createWebhookSender, type WebhookSender } from '../events/webhooks.ts'

export default fp(async function eventsPlugin (app, opts: { config: Config }) {
  const contexts = new WeakMap<FastifyRequest, { ctx: EventContext, resource: AsyncResource }>()

  app.addHook('onRequest', function enterEventContext (request, _reply, done) {
    const ctx: EventContext = {
      ip: request.ip,
      userAgent: request.headers['user-agent'],
      // Read when an event is recorded: authenticate runs after this hook.
      actor: () => request.auth?.sub,
      storedInTransaction: [],
      pending: []
    }
    enterContext(ctx, (resource) => contexts.set(request, { ctx, resource }), done)
  })
  // Body parsing resumes on the socket's async context: back into the request's.
  app.addHook('preValidation', function reenterEventContext (request, _reply, done) {
    const entry = contexts.get(request)
    if (entry === undefined) done()
    else entry.resource.runInAsyncScope(done)
  })
  // An answer never runs ahead of its events: what it reports is already listed.
  app.addHook('onSend', async function awaitEvents (request, _reply, payload) {
    const pending = contexts.get(request)?.ctx.pending
    if (pending !== undefined && pending.length > 0) await Promise.all(pending)
    return payload
  })

  let sender: WebhookSender | null = null
  if (opts.config.webhook !== undefined) {
    sender = createWebhookSender({ store: createEventStore({ prisma: app.prisma }), target: opts.config.webhook, log: app.log.child({ webhooks: true }) })
    app.events.onRecorded(sender.wake)
    const started = sender
    app.addHook('onReady', async () => { started.start() })
    // Before the database closes (onClose): the deliveries in flight finish or time out.
    app.addHook('preClose', async () => { await started.stop() })
  }
  app.decorate('webhooks', sender)
}, { name: 'events', dependencies: ['services'] })

declare module 'fastify' {
  interface FastifyInstance {
    /** This instance's webhook sender; null without WEBHOOK_URL. */
    webhooks: WebhookSender | null
  }
}
