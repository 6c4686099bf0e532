// The migrations committed under prisma/migrations, by folder name.
import { readdirSync } from 'node:fs'

export const committedMigrations = readdirSync(new URL('../../prisma/migrations/', import.meta.url), { withFileTypes: true })
  .filter((d) => d.isDirectory()).map((d) => d.name).sort()
