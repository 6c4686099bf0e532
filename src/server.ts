// Starts the service: logger, timeouts, listen, graceful shutdown. Nothing else.
// Whatever stops start-up ends the process with one sentence and exit code 1.
import closeWithGrace from 'close-with-grace'
import { loadConfig, ConfigError, type Config } from './config.ts'
import { openDatabase, type Database } from './db/database.ts'
import { DataDirInUseError } from './db/data-dir-lock.ts'
import { BootstrapAdminError } from './accounts/accounts.ts'
import { KeyDecryptionError } from './keys/signing-keys.ts'
import app from './app.ts'
import { describe } from './db/redis.ts'
import { createServer } from './server-options.ts'

function fail (sentence: string): never {
  console.error(sentence)
  process.exit(1)
}

/** One sentence for an operator: what stopped start-up, never a stack trace. */
function startupError (err: unknown, config: Config): string {
  if (err instanceof ConfigError) return `configuration error: ${err.message}`
  if (err instanceof DataDirInUseError || err instanceof BootstrapAdminError || err instanceof KeyDecryptionError) return `cannot start: ${err.message}`
  const message = (err as { message?: string }).message ?? String(err)
  const where = config.databaseUrl !== undefined ? 'the database at DATABASE_URL' : `the embedded database under DATA_DIR (${config.dataDir})`
  return `cannot start: ${where} could not be opened or migrated: ${message.split('\n')[0]}`
}

let config: Config
try {
  config = loadConfig()
} catch (err) {
  if (err instanceof ConfigError) fail(`configuration error: ${err.message}`)
  throw err
}

let db: Database
try {
  db = await openDatabase(config, `auth service on ${config.host}:${config.port}`)
} catch (err) {
  fail(startupError(err, config))
}

const server = createServer(config)
server.register(app, { config, db })

closeWithGrace({ delay: 10_000 }, async function shutdown ({ signal, err }) {
  if (err !== undefined) server.log.error({ err }, 'shutting down after an error')
  else server.log.info({ signal }, 'shutting down')
  await server.close()
})

try {
  await server.listen({ port: config.port, host: config.host })
  server.log.info({ database: db.kind, revocations: config.redis !== undefined ? describe(config.redis) : 'in-process' }, 'auth service ready')
} catch (err) {
  await server.close().catch(() => {})
  await db.close().catch(() => {})
  fail(startupError(err, config))
}
