// Figure 8: what a DPoP-bound session costs on the hot path. GET /auth/me
// with a Bearer token and with a DPoP-bound token and a fresh proof per
// request (its signature checked, its jti claimed in the replay store: in
// process on embedded defaults, one Redis round trip with REDIS_URL), at the
// same fixed rate in alternating rounds: CPU time per request of the service
// (read from /proc) and latency. Proofs are signed before each round, so the
// load generator's signing is not in the measured time.
import { createHash, randomUUID } from 'node:crypto'
import { SignJWT, exportJWK, generateKeyPair } from 'jose'
import { paced, type PacedResult } from './paced.ts'
import { cpuMs } from './service.ts'

const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)] }

export async function dpopVersusBearer (opts: {
  base: string
  pid: number
  user: { username: string, password: string }
  rounds: number
  seconds: number
  rate: number
}) {
  const { base, pid, rate, seconds } = opts
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
    const r = await fetch(`${base}/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-auth-mode': 'header', ...headers }, body: JSON.stringify(opts.user) })
    if (r.status !== 200) throw new Error(`figure 8: login answered ${r.status}`)
    return (await r.json()) as { access_token: string, token_type: string }
  }
  const bearer = (await loginWith({})).access_token
  const bound = await loginWith({ dpop: await proof('POST', '/auth/login') })
  if (bound.token_type !== 'DPoP') throw new Error('figure 8: the proof did not bind the session')

  async function round (kind: 'bearer' | 'dpop'): Promise<PacedResult & { cpuUs: number }> {
    const n = Math.ceil(rate * seconds * 1.1) + 50
    const proofs = kind === 'dpop' ? await Promise.all(Array.from({ length: n }, () => proof('GET', '/auth/me', bound.access_token))) : []
    let next = 0
    const before = cpuMs(pid)
    const r = await paced({
      base,
      rate,
      seconds,
      connections: 20,
      request: () => {
        const headers: Record<string, string> = kind === 'bearer' ? { authorization: `Bearer ${bearer}` } : { authorization: `DPoP ${bound.access_token}`, dpop: proofs[next++] }
        return { method: 'GET', path: '/auth/me', headers }
      }
    })
    if (r.failed > 0) throw new Error(`figure 8: ${kind} /auth/me failed ${r.failed} times (${JSON.stringify(r.statuses)})`)
    return { ...r, cpuUs: ((cpuMs(pid) - before) * 1000) / r.ok }
  }

  await round('bearer') // warm-up, not counted
  await round('dpop')
  const runs: Record<'bearer' | 'dpop', Array<PacedResult & { cpuUs: number }>> = { bearer: [], dpop: [] }
  for (let i = 0; i < opts.rounds; i++) {
    const order: Array<'bearer' | 'dpop'> = i % 2 === 0 ? ['bearer', 'dpop'] : ['dpop', 'bearer']
    for (const kind of order) runs[kind].push(await round(kind))
  }
  const pick = (rs: Array<PacedResult & { cpuUs: number }>) => ({ cpuUs: median(rs.map((r) => r.cpuUs)), p50: median(rs.map((r) => r.p50)), p99: median(rs.map((r) => r.p99)), cpuPerRound: rs.map((r) => Number(r.cpuUs.toFixed(1))) })
  const b = pick(runs.bearer)
  const d = pick(runs.dpop)
  return { rate, bearer: b, dpop: d, cpuRatio: d.cpuUs / b.cpuUs }
}

export function printFigure8 (label: string, f: Awaited<ReturnType<typeof dpopVersusBearer>>): string {
  return `8${label}. GET /auth/me at ${f.rate} req/s, DPoP-bound vs Bearer: CPU per request ${f.dpop.cpuUs.toFixed(1)} vs ${f.bearer.cpuUs.toFixed(1)} µs = ${f.cpuRatio.toFixed(2)}x; p50 ${f.dpop.p50}/${f.bearer.p50} ms, p99 ${f.dpop.p99}/${f.bearer.p99} ms (rounds DPoP ${f.dpop.cpuPerRound.join('/')}, Bearer ${f.bearer.cpuPerRound.join('/')} µs)`
}
