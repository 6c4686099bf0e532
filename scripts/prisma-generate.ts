// Generates the Prisma client into src/generated/prisma. `prisma generate`
// only checks that a schema-engine binary exists (it never runs it), and the
// real one cannot be downloaded here, so it is pointed at an empty file.
// With --if-available (postinstall) it does nothing where the prisma CLI is
// not installed, as in a production-only install that ships a generated client.
import { spawnSync } from 'node:child_process'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
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
if (run.status !== 0) process.exit(run.status ?? 1)

// The generated client imports Prisma's query compiler as a JavaScript module
// that exports the WebAssembly as one base64 string (2.3 MB for the small
// build, 4.5 MB for the fast one). A module lives as long as the process, so
// the service would keep that string, and the module's source text, for good:
// twice that in memory (bench/rss-probe.ts). Patched, the client reads the same file, decodes and
// compiles it, and keeps only the compiled module.
const classFile = new URL('../src/generated/prisma/internal/class.ts', import.meta.url)
const generated = readFileSync(classFile, 'utf8')
const loader = /( +)const \{ wasm \} = await import\(("[^"]+\.wasm-base64\.mjs")\)\n +return await decodeBase64AsWasm\(wasm\)/
const found = loader.exec(generated)
if (found === null) {
  console.error('prisma-generate: the query compiler loader in internal/class.ts has changed; update the patch in scripts/prisma-generate.ts')
  process.exit(1)
}
const [, indent, specifier] = found
writeFileSync(classFile, generated.replace(loader, [
  `${indent}// Read, not imported (see scripts/prisma-generate.ts): nothing keeps the base64 text.`,
  `${indent}const { readFile } = await import('node:fs/promises')`,
  `${indent}const source = await readFile(new URL(import.meta.resolve(${specifier})), 'latin1')`,
  `${indent}const start = source.indexOf('"') + 1`,
  `${indent}return await decodeBase64AsWasm(source.slice(start, source.indexOf('"', start)))`
].join('\n')))
