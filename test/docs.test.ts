// docs/api.md is the contract a user reads: kept true against the service.
import t from 'tap'
import { readFileSync } from 'node:fs'
import { buildApp } from './helpers/app.ts'
import * as errors from '../src/errors.ts'
import { SETTINGS } from '../src/config.ts'

const doc = readFileSync('docs/api.md', 'utf8')
const section = (title: string) => {
  const start = doc.indexOf(`## ${title}`)
  if (start === -1) throw new Error(`docs/api.md has no section ${title}`)
  const end = doc.indexOf('\n## ', start + 3)
  return doc.slice(start, end === -1 ? undefined : end)
}

t.test('every route is documented, and every documented endpoint exists', async (t) => {
  const { app } = await buildApp(t, { backend: 'embedded' })
  const openapi = (await app.inject('/docs/json')).json()
  const served = new Set<string>()
  for (const [path, methods] of Object.entries(openapi.paths as Record<string, object>)) {
    if (path.startsWith('/docs')) continue
    for (const method of Object.keys(methods)) served.add(`${method.toUpperCase()} ${path.replace(/\{(\w+)\}/g, ':$1')}`)
  }
  // The main table, and the tables of the sections that have their own.
  const tables = section('Endpoints') + section('Sign in with an OpenID Connect provider')
  const documented = new Set([...tables.matchAll(/^\| `([A-Z]+) ([^ `?]+)/gm)].map((m) => `${m[1]} ${m[2]}`))
  t.ok(documented.size >= 17, `${documented.size} endpoints in the table`)
  t.same([...served].filter((r) => !documented.has(r)).sort(), [], 'no route is missing from docs/api.md')
  t.same([...documented].filter((r) => !served.has(r)).sort(), [], 'no documented endpoint is missing from the service')
})

t.test('every error code the service answers with is documented', async (t) => {
  // Found, not listed: every error class of src/errors.ts and every code the
  // error handlers write as a literal (app.ts's send(), the pre-routing
  // refusals of server-options.ts, errors.ts's refusalOf).
  const classes = Object.values(errors).flatMap((e) => typeof e === 'function' && e.prototype instanceof Error ? [new (e as new (...a: string[]) => { code: string })('x').code] : [])
  t.ok(classes.length >= 25, `${classes.length} error classes in src/errors.ts`)
  t.same(classes.filter((c) => !errors.errorCodes.has(c)), [], 'every error class is in the registry')
  const written = ['src/app.ts', 'src/server-options.ts', 'src/errors.ts'].flatMap((file) => [...readFileSync(file, 'utf8').matchAll(/send\(reply, \d{3}, '([A-Z_]+)'|code: '([A-Z_]+)'/g)].map((m) => m[1] ?? m[2]))
  t.ok(written.includes('INTERNAL') && written.includes('NOT_FOUND'), `codes written by the handlers: ${[...new Set(written)].join(', ')}`)
  t.same(written.filter((c) => !errors.errorCodes.has(c)), [], 'the handlers write only codes of the registry')
  // What Fastify refuses is answered with a code of the registry, whatever its own code.
  const mapped = Object.values(errors.fastifyErrors).map((make) => (make() as Error & { code: string }).code)
  t.same(mapped.filter((c) => !errors.errorCodes.has(c)), [], "Fastify's errors map to codes of the registry")
  // As a code, in backticks (with its status or alone), not as a word of some setting's name.
  for (const code of errors.errorCodes) t.match(doc, new RegExp(`\`(\\d{3} )?${code}\``), `${code} is in docs/api.md`)
  t.equal(errors.refusalOf({ code: 'SOME_LIBRARY_CODE', statusCode: 418, message: 'internals' }).code, 'BAD_REQUEST', 'an unknown refusal gets a code of the registry, not its own')
})

t.test('every setting in src/config.ts\'s table is in the configuration table of docs/api.md and docs/operations.md', async (t) => {
  // The table is complete by construction: a row's parser can read only the variables the row names.
  const names = new Set(SETTINGS.flatMap((s) => s.names))
  t.ok(names.size >= 40, `${names.size} variables in SETTINGS`)
  const table = section('Configuration')
  const operations = readFileSync('docs/operations.md', 'utf8')
  for (const name of names) {
    t.match(table, new RegExp(`\`${name}\``), `${name} in docs/api.md`)
    t.match(operations, new RegExp(`\`${name}\``), `${name} in docs/operations.md`)
  }
  for (const s of SETTINGS) t.ok(s.doc.length > 0 && s.default.length > 0, `${s.names[0]} has a default and a doc`)
})

t.test('the README and the OpenAPI document send readers to docs/api.md, never outside the repository', async (t) => {
  const readme = readFileSync('README.md', 'utf8')
  t.match(readme, /docs\/api\.md/)
  t.notMatch(readme, /shared\//)
  const { app } = await buildApp(t, { backend: 'embedded' })
  const info = (await app.inject('/docs/json')).json().info
  t.match(info.description, /docs\/api\.md/)
  t.notMatch(info.description, /shared\//)
})
