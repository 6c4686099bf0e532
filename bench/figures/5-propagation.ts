// Figure 5, revocation propagation: how long after a logout on one instance
// another instance (the same PostgreSQL + Redis, phase C) refuses the
// session's access token. 200 tries, each a login on the first instance, its
// token accepted by the second, then a logout on the first and GET /auth/me
// on the second, back to back on one connection, until it answers 401; the
// time from the logout's start. Absolute, no baseline. Target: p99 < 50 ms.
import { Agent, request } from 'undici'
import { bearer, login, post, type Row } from '../common.ts'

export interface Propagation { tries: number, p50: number, p99: number, max: number }

/** `one` and `two`: the bases of two instances sharing their stores, USER registered. */
export async function propagation (one: string, two: string): Promise<Propagation> {
  const agent = new Agent({ connections: 1, pipelining: 1 })
  const meOnTwo = (headers: Record<string, string>) => request(`${two}/auth/me`, { headers, dispatcher: agent }).then(async (r) => { await r.body.dump(); return r.statusCode })
  const delays: number[] = []
  for (let i = 0; i < 200; i++) {
    const headers = bearer((await login(one)).access_token)
    while ((await meOnTwo(headers)) !== 200) { /* until instance two accepts it */ }
    const t0 = performance.now()
    await post(one, '/auth/logout', {}, headers)
    while ((await meOnTwo(headers)) !== 401) { /* until instance two refuses it */ }
    delays.push(performance.now() - t0)
  }
  await agent.close()
  delays.sort((a, b) => a - b)
  return { tries: delays.length, p50: delays[Math.floor(delays.length * 0.5)], p99: delays[Math.floor(delays.length * 0.99)], max: delays[delays.length - 1] }
}

export const rowFigure5 = (f: Propagation): Row => ({
  name: '5. Revocation propagation to another instance p99',
  value: `${f.p99.toFixed(1)} ms (p50 ${f.p50.toFixed(1)}, max ${f.max.toFixed(1)}, ${f.tries} tries)`,
  target: '< 50 ms',
  ok: f.p99 < 50
})
