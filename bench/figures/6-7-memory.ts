// Figures 6 and 7, memory, read from outside the process (/proc), absolute,
// no baseline. Figure 6: the resident memory (VmRSS) of a service that has
// been through the run: phase B's (embedded PGlite, or PostgreSQL + Redis
// when DATABASE_URL is given) and, 6b, phase C's first instance on
// PostgreSQL + Redis; target < 150 MB. Figure 7: the peak resident memory
// (VmHWM: what a container's memory limit meets) of a first start on a fresh
// DATA_DIR (embedded) and, 7b, on a fresh database (PostgreSQL + Redis),
// through a sign-up, sign-in, 50 refreshes and token checks and 5 s of
// quiet; target < 256 MB.
import { bearer, login, post, startService, USER, type Row } from '../common.ts'
import { peakMbOf, rssMb, type Service } from '../service.ts'

/** Figure 6: the service's resident memory now, MB. */
export const residentMb = (svc: Service): number => rssMb(svc.proc.pid!)

export interface PeakMemory {
  /** VmHWM once ready and after the traffic, VmRSS after the quiet, MB. */
  peakAtReady: number
  peak: number
  settled: number
}

/** Figure 7: a service started with `env`, from its first start. */
export async function peakMemory (env: Record<string, string>): Promise<PeakMemory> {
  const s = await startService(env)
  const atReady = peakMbOf(s.proc.pid!)
  await post(s.base, '/auth/register', USER)
  let tokens = await login(s.base)
  for (let i = 0; i < 50; i++) {
    tokens = (await post(s.base, '/auth/refresh', { refresh_token: tokens.refresh_token })).body
    await fetch(`${s.base}/auth/me`, { headers: bearer(tokens.access_token) })
  }
  await new Promise((resolve) => setTimeout(resolve, 5000))
  const out = { peakAtReady: atReady, peak: peakMbOf(s.proc.pid!), settled: rssMb(s.proc.pid!) }
  await s.stop()
  return out
}

/** Rows 6 and 6b: phase B's service (on `database`) and phase C's. */
export const rowsFigure6 = (phaseB: number, database: 'pglite' | 'postgresql', phaseC: number): Row[] => [
  { name: `6. RSS at the end of the run (${database === 'pglite' ? 'embedded PGlite' : 'PostgreSQL + Redis, phase B'})`, value: `${phaseB.toFixed(1)} MB`, target: '< 150 MB', ok: phaseB < 150 },
  { name: '6b. RSS at the end of the run (PostgreSQL + Redis, phase C)', value: `${phaseC.toFixed(1)} MB`, target: '< 150 MB', ok: phaseC < 150 }
]

/** Rows 7 and 7b. */
export const rowsFigure7 = (embedded: PeakMemory, postgresRedis: PeakMemory): Row[] => [
  ['7. Peak RSS, first start on a fresh DATA_DIR (embedded)', embedded] as const,
  ['7b. Peak RSS, first start (PostgreSQL + Redis)', postgresRedis] as const
].map(([name, f]) => ({ name, value: `${f.peak.toFixed(0)} MB (at ready ${f.peakAtReady.toFixed(0)}), settled ${f.settled.toFixed(0)} MB`, target: '< 256 MB', ok: f.peak < 256 }))
