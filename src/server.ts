// Starts the service: logger, timeouts, listen, graceful shutdown. Nothing else.
import Fastify from 'fastify'
import closeWithGrace from 'close-with-grace'
import { loadConfig, ConfigError } from './config.ts'
import { openDatabase } from './db/database.ts'
import app from './app.ts'
import { serverOptions } from './server-options.ts'

let config
try {
  config = loadConfig()
} catch (err) {
  if (err instanceof ConfigError) {
    console.error(`configuration error: ${err.message}`)
    process.exit(1)
  }
  throw err
}

const server = Fastify(serverOptions(config))
const db = await openDatabase(config)
server.register(app, { config, db })

closeWithGrace({ delay: 10_000 }, async function shutdown ({ signal, err }) {
  if (err !== undefined) server.log.error({ err }, 'shutting down after an error')
  else server.log.info({ signal }, 'shutting down')
  await server.close()
})

try {
  await server.listen({ port: config.port, host: config.host })
  server.log.info({ database: db.kind, revocations: config.redisUrl !== undefined ? 'redis' : 'in-process' }, 'auth service ready')
} catch (err) {
  server.log.error({ err }, 'start-up failed')
  await server.close().catch(() => {})
  process.exit(1)
}
