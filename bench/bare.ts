// Figure 0's baseline: a bare Fastify app (the service's Fastify version,
// started with the service's Node flags by bench/run.ts), logger off, one
// route answering a constant. What the framework itself costs per request.
import Fastify from 'fastify'

const app = Fastify({ logger: false })
app.get('/', async () => ({ status: 'ok' }))
await app.listen({ port: Number(process.env.PORT), host: process.env.HOST ?? '127.0.0.1' })
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => { app.close().then(() => process.exit(0)) })
