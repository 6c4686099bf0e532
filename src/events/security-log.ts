// `app.security`: still the security logger every call site uses, and now
// also the recorder. Each `info`/`warn` line that names an `event` writes it
// as a line and stores it, so every call site (and every new one) is recorded
// without being touched.
import type { FastifyBaseLogger } from 'fastify'
import { currentContext } from './context.ts'
import { fromLogLine } from './details.ts'
import type { Events } from './recorder.ts'

export function createSecurityLog (log: FastifyBaseLogger, events: Pick<Events, 'record' | 'wake'>): FastifyBaseLogger {
  function store (line: unknown): void {
    if (typeof line !== 'object' || line === null) return
    const input = fromLogLine(line as Record<string, unknown>)
    if (input === undefined) return
    const ctx = currentContext()
    const already = ctx?.storedInTransaction.indexOf(input.type) ?? -1
    if (already >= 0) {
      // Written with its change (recorder.recordIn): the change has committed by now, so the sender may go.
      ctx?.storedInTransaction.splice(already, 1)
      events.wake()
      return
    }
    // A lost event is logged, never a failed request: the change it records has happened.
    const write = events.record(input).catch((err: Error) => log.warn({ err: { message: err.message }, event: input.type }, 'security event not stored'))
    ctx?.pending.push(write)
  }
  const info = (line: unknown, ...rest: unknown[]) => { (log.info as (...a: unknown[]) => void)(line, ...rest); store(line) }
  const warn = (line: unknown, ...rest: unknown[]) => { (log.warn as (...a: unknown[]) => void)(line, ...rest); store(line) }
  return new Proxy(log, {
    get (target, name, receiver) {
      if (name === 'info') return info
      if (name === 'warn') return warn
      return Reflect.get(target, name, receiver)
    }
  })
}
