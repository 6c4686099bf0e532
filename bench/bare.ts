// Figure 0's baseline: a bare Fastify app (the service's Fastify version,
// started with the service's Node flags by bench/run.ts), logger off, one
// route answering a constant. What the framework itself costs per request.
//
// For bench/breakdown.ts, BARE_VARIANT adds one part of the service at a time:
//   options   the service's server options (timeouts, limits), no logger
//   logger    the same, with Fastify's own logger at warn (as before this
//             service gave Fastify no logger below debug)
//   headers   options, plus the security-header hook of every answer
// and BARE_WITH_DB=1 opens an in-memory PGlite with the Prisma client in the
// process first (the embedded database's share: a larger heap, its timers).
import Fastify, { type FastifyServerOptions } from 'fastify'
import { loadConfig } from '../src/config.ts'
import { serverOptions } from '../src/server-options.ts'
import securityHeaders from '../src/plugins/security-headers.ts'

const variant = process.env.BARE_VARIANT ?? 'bare'
const config = loadConfig({ LOG_LEVEL: 'warn', NODE_ENV: 'production', JWT_SECRET: 'bench-bare-0123456789abcdef0123456789ab' })
const options: Record<string, unknown> = variant === 'bare' ? { logger: false } : serverOptions(config, variant === 'logger' ? {} : { logger: false })
// BARE_DROP=a,b: those server options left out (which option costs what).
for (const name of (process.env.BARE_DROP ?? '').split(',').filter(Boolean)) delete options[name]
if (process.env.BARE_WITH_DB === '1') {
  const { openPGlite } = await import('../src/db/database.ts')
  const db = await openPGlite(undefined)
  await db.migrate()
  await db.prisma.user.count()
}
const app = Fastify(options as FastifyServerOptions)
if (variant === 'headers') await app.register(securityHeaders)
app.get('/', async () => ({ status: 'ok' }))
await app.listen({ port: Number(process.env.PORT), host: process.env.HOST ?? '127.0.0.1' })
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => { app.close().then(() => process.exit(0)) })
