// The admin console at /admin/console/: static files from admin-console/
// (@fastify/static), and its TypeScript modules (and the client library's)
// served as JavaScript by stripping their types, as the SPA example does: no
// build step. Everything it does goes through the admin API with the
// signed-in admin's access token; this plugin serves files and nothing else.
import fastifyStatic from '@fastify/static'
import { readFile } from 'node:fs/promises'
import { stripTypeScriptTypes } from 'node:module'
import { fileURLToPath } from 'node:url'
import type { FastifyInstance } from 'fastify'
import { pageHeaders } from '../../plugins/security-headers.ts'
import { NotFoundError } from '../../errors.ts'

// src/routes/admin and dist/routes/admin are both three folders below the repository.
const root = (path: string) => fileURLToPath(new URL(`../../../${path}`, import.meta.url))

// Scripts and styles from these files only: no inline script or style, no
// other origin, never framed (clickjacking an admin's buttons).
export const CONSOLE_CSP = [
  "default-src 'self'", "script-src 'self'", "style-src 'self'", "img-src 'self' data:", "connect-src 'self'",
  "object-src 'none'", "base-uri 'none'", "form-action 'none'", "frame-ancestors 'none'"
].join('; ')

// The modules a browser may ask for, by path below the repository: the console's own and the client library's.
const MODULE = /^(admin-console\/[a-z-]+|client\/(api\/)?[a-z-]+)\.ts$/

export default async function adminConsole (app: FastifyInstance) {
  pageHeaders(app)
  app.addHook('onRequest', function consoleHeaders (_request, reply, done) {
    reply.header('content-security-policy', CONSOLE_CSP).header('cache-control', 'no-cache')
    done()
  })
  await app.register(fastifyStatic, {
    root: root('admin-console'),
    prefix: '/admin/console/',
    index: 'index.html',
    // Pages and styles only: the modules are served stripped, below.
    allowedPath: (path) => /^\/[a-z-]*(\.html|\.css)?$/.test(path),
    decorateReply: false
  })
  app.get('/admin/console', { schema: { hide: true } }, async function consoleSlash (_request, reply) {
    return reply.redirect('/admin/console/')
  })
  const cache = new Map<string, string>()
  app.get<{ Params: { '*': string } }>('/admin/console/modules/*', { schema: { hide: true } }, async function consoleModule (request, reply) {
    const path = request.params['*']
    if (!MODULE.test(path)) throw new NotFoundError('No such file')
    let body = cache.get(path)
    if (body === undefined) {
      const source = await readFile(root(path), 'utf8').catch(() => undefined)
      if (source === undefined) throw new NotFoundError('No such file')
      body = stripTypeScriptTypes(source, { mode: 'strip' })
      cache.set(path, body)
    }
    return reply.type('text/javascript; charset=utf-8').send(body)
  })
}
