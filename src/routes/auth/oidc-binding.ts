// The cookie that binds a sign-in at a provider to the browser that started
// it (RFC 9700 section 4.7: no login CSRF): the callback of a transaction
// started in another browser is refused. One value per browser, reused by
// every start, so two tabs signing in at once do not undo each other.
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { Config } from '../../config.ts'
import { BINDING_SHAPE, TRANSACTION_TTL, newBinding } from '../../oidc/flow.ts'

export const BINDING_COOKIE = 'oidc_binding'

/** The `:name` of a provider route. */
export const ProviderParams = {
  type: 'object',
  properties: { name: { type: 'string', maxLength: 32 } },
  required: ['name']
} as const

/** The browser's binding value, set (again) on the reply for the transaction's lifetime. */
export function bindingOf (request: FastifyRequest, reply: FastifyReply, config: Config): string {
  const current = request.cookies[BINDING_COOKIE]
  const binding = current !== undefined && BINDING_SHAPE.test(current) ? current : newBinding()
  // Lax, not Strict: the callback is a top-level navigation from the provider's site,
  // which carries Lax cookies and never Strict ones. None for a SPA on another site.
  const sameSite = config.cookieSameSite === 'none' ? 'none' : 'lax'
  reply.setCookie(BINDING_COOKIE, binding, {
    httpOnly: true,
    secure: config.cookieSecure,
    sameSite,
    path: '/auth/oidc',
    maxAge: TRANSACTION_TTL,
    ...(sameSite === 'none' ? { partitioned: true } : {})
  })
  return binding
}
