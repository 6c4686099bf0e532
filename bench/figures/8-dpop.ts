// Figure 8, what a DPoP-bound session costs on the hot path: GET /auth/me
// with a DPoP-bound token and a fresh proof per request (its signature
// checked, its jti claimed in the replay store: in process on embedded
// defaults, 8; one Redis round trip on PostgreSQL + Redis, 8b) against the
// same request with a Bearer token, its baseline in the same run: both at a
// fixed 1,000 req/s, a warm-up round of each, then BENCH_ROUNDS rounds in
// alternating order; CPU time per request of the service (read from /proc)
// and latency, medians. Proofs are signed before each round, so the load
// generator's signing is not in the measured time. Measured, no target.
import { createHash, randomUUID } from 'node:crypto'
import { SignJWT, exportJWK, generateKeyPair } from 'jose'
import { bearer as bearerHeader, FIXED_RATE_SECONDS, median, pacedWithCpu, ROUNDS, USER, type Row } from '../common.ts'
import type { PacedResult } from '../paced.ts'

const RATE = 1000

interface Side { cpuUs: number, p50: number, p99: number, cpuPerRound: number[] }
export interface DpopCost { rate: number, bearer: Side, dpop: Side, cpuRatio: number }

/** On the service at `base` (process `pid`), where USER is registered. */
export async function dpopVersusBearer (base: string, pid: number): Promise<DpopCost> {
  const { privateKey, publicKey } = await generateKeyPair('ES256')
  const jwk = await exportJWK(publicKey)
  const proof = (method: string, path: string, accessToken?: string) => new SignJWT({
    htm: method,
    htu: `${base}${path}`,
    jti: randomUUID(),
    iat: Math.floor(Date.now() / 1000),
    ...(accessToken !== undefined ? { ath: createHash('sha256').update(accessToken).digest('base64url') } : {})
  }).setProtectedHeader({ typ: 'dpop+jwt', alg: 'ES256', jwk }).sign(privateKey)

  const loginWith = async (headers: Record<string, string>) => {
    const r = await fetch(`${base}/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-auth-mode': 'header', ...headers }, body: JSON.stringify(USER) })
    if (r.status !== 200) throw new Error(`figure 8: login answered ${r.status}`)
    return (await r.json()) as { access_token: string, token_type: string }
  }
  const bearer = (await loginWith({})).access_token
  const bound = await loginWith({ dpop: await proof('POST', '/auth/login') })
  if (bound.token_type !== 'DPoP') throw new Error('figure 8: the proof did not bind the session')

  async function round (kind: 'bearer' | 'dpop'): Promise<PacedResult & { cpuUs: number }> {
    const n = Math.ceil(RATE * FIXED_RATE_SECONDS * 1.1) + 50
    const proofs = kind === 'dpop' ? await Promise.all(Array.from({ length: n }, () => proof('GET', '/auth/me', bound.access_token))) : []
    let next = 0
    const r = await pacedWithCpu(pid, {
      base,
      rate: RATE,
      seconds: FIXED_RATE_SECONDS,
      connections: 20,
      request: () => {
        const headers: Record<string, string> = kind === 'bearer' ? bearerHeader(bearer) : { authorization: `DPoP ${bound.access_token}`, dpop: proofs[next++] }
        return { method: 'GET', path: '/auth/me', headers }
      }
    })
    if (r.failed > 0) throw new Error(`figure 8: ${kind} /auth/me failed ${r.failed} times (${JSON.stringify(r.statuses)})`)
    return r
  }

  await round('bearer') // warm-up, not counted
  await round('dpop')
  const runs: Record<'bearer' | 'dpop', Array<PacedResult & { cpuUs: number }>> = { bearer: [], dpop: [] }
  for (let i = 0; i < ROUNDS; i++) {
    const order: Array<'bearer' | 'dpop'> = i % 2 === 0 ? ['bearer', 'dpop'] : ['dpop', 'bearer']
    for (const kind of order) runs[kind].push(await round(kind))
  }
  const pick = (rs: Array<PacedResult & { cpuUs: number }>): Side => ({ cpuUs: median(rs.map((r) => r.cpuUs)), p50: median(rs.map((r) => r.p50)), p99: median(rs.map((r) => r.p99)), cpuPerRound: rs.map((r) => Number(r.cpuUs.toFixed(1))) })
  const b = pick(runs.bearer)
  const d = pick(runs.dpop)
  return { rate: RATE, bearer: b, dpop: d, cpuRatio: d.cpuUs / b.cpuUs }
}

const described = (f: DpopCost) => `GET /auth/me at ${f.rate} req/s, DPoP-bound vs Bearer: CPU per request ${f.dpop.cpuUs.toFixed(1)} vs ${f.bearer.cpuUs.toFixed(1)} µs = ${f.cpuRatio.toFixed(2)}x; p50 ${f.dpop.p50}/${f.bearer.p50} ms, p99 ${f.dpop.p99}/${f.bearer.p99} ms (rounds DPoP ${f.dpop.cpuPerRound.join('/')}, Bearer ${f.bearer.cpuPerRound.join('/')} µs)`

/** Figure 8's line (BENCH_ONLY=dpop). */
export const printFigure8 = (f: DpopCost) => `8. ${described(f)}`

/** Row 8 (embedded) or 8b (PostgreSQL + Redis). */
export const rowFigure8 = (label: '' | 'b', f: DpopCost): Row => ({
  name: label === '' ? '8. /auth/me DPoP-bound vs Bearer, CPU per request (embedded)' : '8b. Same, PostgreSQL + Redis (replay check in Redis)',
  value: described(f),
  target: 'measured',
  ok: null
})
