// docs/api.md is the contract a user reads: kept true against the service.
import t from 'tap'
import { readFileSync } from 'node:fs'
import { buildApp } from './helpers/app.ts'
import * as errors from '../src/errors.ts'

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
  const documented = new Set([...section('Endpoints').matchAll(/^\| `([A-Z]+) ([^ `?]+)/gm)].map((m) => `${m[1]} ${m[2]}`))
  t.ok(documented.size >= 17, `${documented.size} endpoints in the table`)
  t.same([...served].filter((r) => !documented.has(r)).sort(), [], 'no route is missing from docs/api.md')
  t.same([...documented].filter((r) => !served.has(r)).sort(), [], 'no documented endpoint is missing from the service')
})

t.test('every error code the service answers with is documented', async (t) => {
  const codes = Object.values(errors).flatMap((e) => typeof e === 'function' && 'prototype' in e ? [new (e as new (...a: string[]) => { code: string })('x').code] : [])
  t.ok(codes.length >= 15, `${codes.length} codes in src/errors.ts`)
  for (const code of codes) t.match(doc, new RegExp(`\\b${code}\\b`), code)
  // And the codes of Fastify's own 4xx that the error handler maps.
  for (const code of ['VALIDATION', 'NOT_FOUND', 'UNSUPPORTED_MEDIA_TYPE', 'INTERNAL']) t.match(doc, new RegExp(`\\b${code}\\b`), code)
})

t.test('every environment variable the service reads is in the configuration table', async (t) => {
  const source = readFileSync('src/config.ts', 'utf8')
  const read = new Set([...source.matchAll(/env\.([A-Z][A-Z0-9_]+)|\(env, '([A-Z][A-Z0-9_]+)'/g)].map((m) => m[1] ?? m[2]))
  t.ok(read.size >= 25, `${read.size} variables read by src/config.ts`)
  const table = section('Configuration')
  for (const name of read) t.match(table, new RegExp(`\`${name}\``), name)
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
