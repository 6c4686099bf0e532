// The real service (PGlite, in-process store) on a port, for the client
// library's tests: fetch counted per path, and tampered with on demand. Built
// in this process, not started as a child (service-process.ts): the tests
// reach into its database through `app` (app.prisma) to age a session.
import { createAuthClient, type AuthClientOptions } from '../../client/index.ts'
import { buildApp } from './app.ts'

/** A real service on a port, with fetch counted per path (and tampered with on demand). */
export async function service (t: { teardown: (fn: () => unknown) => void }, env: Record<string, string>) {
  const { app } = await buildApp(t, { backend: 'embedded', env })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const address = app.server.address() as { port: number }
  const baseUrl = `http://127.0.0.1:${address.port}`
  const calls: string[] = []
  let tamper: ((path: string, forward: () => Promise<Response>, signal?: AbortSignal) => Promise<Response>) | undefined
  const counted: typeof fetch = async (input, init) => {
    const path = new URL(String(input)).pathname
    calls.push(`${init?.method ?? 'GET'} ${path}`)
    const forward = () => fetch(input, init)
    return tamper !== undefined ? tamper(path, forward, init?.signal ?? undefined) : forward()
  }
  const count = (call: string) => calls.filter((c) => c === call).length
  const client = (opts: Partial<AuthClientOptions> = {}) => {
    const c = createAuthClient({ baseUrl, mode: 'header', fetch: counted, retryDelays: [50, 100, 200], ...opts })
    t.teardown(() => c.close())
    return c
  }
  const setTamper = (fn: typeof tamper) => { tamper = fn }
  return { app, baseUrl, calls, count, client, setTamper }
}

/** A network that holds an answer back for `ms`, unless the request is aborted first (as a real one is). */
export function stall (ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms)
    signal?.addEventListener('abort', () => { clearTimeout(timer); reject(signal.reason) }, { once: true })
  })
}
