// Generates the Prisma client into src/generated/prisma. `prisma generate`
// only checks that a schema-engine binary exists (it never runs it), and the
// real one cannot be downloaded here, so it is pointed at an empty file.
// With --if-available (postinstall) it does nothing where the prisma CLI is
// not installed, as in a production-only install that ships a generated client.
import { spawnSync } from 'node:child_process'
import { existsSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const require = createRequire(import.meta.url)
let cli: string
try {
  cli = require.resolve('prisma/build/index.js')
} catch {
  if (process.argv.includes('--if-available')) process.exit(0)
  throw new Error('the prisma CLI is not installed: run npm install (with dev dependencies)')
}
const placeholder = join(tmpdir(), 'prisma-schema-engine-placeholder')
if (!existsSync(placeholder)) writeFileSync(placeholder, '')
const run = spawnSync(process.execPath, [cli, 'generate'], {
  stdio: 'inherit',
  env: { ...process.env, PRISMA_SCHEMA_ENGINE_BINARY: placeholder, CHECKPOINT_DISABLE: '1', PRISMA_HIDE_UPDATE_MESSAGE: '1' }
})
process.exit(run.status ?? 1)
