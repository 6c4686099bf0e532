// The request an event happens in, without threading it through every call:
// the existing `app.security.info(...)` call sites give their fields, and the
// address, the agent and the signed-in actor come from here. Events outside a
// request (the CLI, timers) have none: they are stored without them.
import { AsyncLocalStorage, AsyncResource } from 'node:async_hooks'

export interface EventContext {
  ip?: string
  userAgent?: string
  /** Read when an event is recorded: the authenticate hook sets it after the context is entered. */
  actor: () => string | undefined
  /** Event types already written in a change's own transaction: the log line that follows stores nothing again. */
  storedInTransaction: string[]
  /** Writes started by log lines of this request; the answer waits for them, so it never runs ahead of its events. */
  pending: Array<Promise<unknown>>
}

const storage = new AsyncLocalStorage<EventContext>()

export const currentContext = (): EventContext | undefined => storage.getStore()

/**
 * Enters the context for the rest of the request. Body parsing resumes on the
 * socket's own async context, so the resource re-enters it afterwards
 * (`reenter`, a preValidation hook), as @fastify/request-context does.
 */
export function enterContext (ctx: EventContext, keep: (resource: AsyncResource) => void, next: () => void): void {
  storage.run(ctx, () => {
    const resource = new AsyncResource('security-event-context')
    keep(resource)
    resource.runInAsyncScope(next)
  })
}
