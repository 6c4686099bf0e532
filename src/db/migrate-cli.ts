// npm run db:migrate: applies pending migrations to DATABASE_URL (or the
// embedded database under DATA_DIR), as the service does at start-up.
import { loadConfig } from '../config.ts'
import { openDatabase } from './database.ts'

const config = loadConfig()
const db = await openDatabase(config)
try {
  const applied = await db.migrate()
  console.log(applied.length === 0 ? 'database is up to date' : `applied: ${applied.join(', ')}`)
} finally {
  await db.close()
}
