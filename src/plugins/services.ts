// Decorates the instance with the service graph (services.ts: `passwords`,
// `accounts`, `sessions`, `rotation`, `csrf`, `userRevocation`, `userAdmin`,
// the second factors, `stepUp` …), `security` (the security-event logger)
// and the step-up hook `requireStepUp`; ensures the bootstrap admin and
// prunes on a timer.
import fp from 'fastify-plugin'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { Config } from '../config.ts'
import { createServices, type Services } from '../services.ts'
import { createSecurityLog } from '../events/security-log.ts'

export default fp(async function servicesPlugin (app, opts: { config: Config }) {
  const { config } = opts
  // Security events: one structured line each, who/what/where, never a secret;
  // each also stored (events/security-log.ts), made once the recorder exists.
  const securityLines = app.log.child({ security: true })
  let security = securityLines
  const services = createServices({
    config,
    db: app.db,
    revocations: app.revocations,
    sessionSecret: app.keys.sessionSecret,
    factorKey: app.keys.factorKey,
    onReuse: (info) => security.warn({ event: 'refresh_token_reused', ...info }, 'refresh token reused after the grace window: session revoked')
  })
  app.addHook('onClose', async () => { await services.close() })
  security = createSecurityLog(securityLines, services.events)
  for (const [name, service] of Object.entries(services)) if (name !== 'pruneAll' && name !== 'close') app.decorate(name, service as object)
  app.decorate('security', security)
  const { stepUp, accounts, passwords, pruneAll } = services
  // After app.authenticate: the one place a sensitive change asks for step-up (mfa/step-up.ts).
  app.decorate('requireStepUp', async function requireStepUp (request: FastifyRequest, _reply: FastifyReply) {
    await stepUp.check(request.auth!.sub, request.auth!)
  })

  if (config.pruneInterval > 0) {
    const pruner = setInterval(() => {
      pruneAll().then(
        (pruned) => { if (Object.values(pruned).some((n) => n > 0)) app.log.info({ pruned }, 'pruned expired refresh tokens and old sessions') },
        (err) => app.log.warn({ err: { message: err.message } }, 'pruning failed; retried at the next interval')
      )
    }, config.pruneInterval * 1000)
    pruner.unref()
    app.addHook('onClose', async () => { clearInterval(pruner) })
  }

  // Comparisons cost what the dearest stored hash costs (no timing oracle after a BCRYPT_COST change).
  await accounts.raiseCostToStored()
  await passwords.warm()
  if (config.adminUsername !== undefined && config.adminPassword !== undefined) {
    const outcome = await accounts.ensureAdmin(config.adminUsername, config.adminPassword)
    app.log.info({ username: config.adminUsername, outcome }, 'bootstrap admin ready')
  }
}, { name: 'services', dependencies: ['db', 'revocation-list', 'signing-keys'] })

type Decorated = Omit<Services, 'pruneAll' | 'close'>

declare module 'fastify' {
  interface FastifyInstance extends Decorated {
    security: import('fastify').FastifyBaseLogger
    /** preHandler of a sensitive change: 401 MFA_REQUIRED or REAUTH_REQUIRED (mfa/step-up.ts). */
    requireStepUp: (request: FastifyRequest, reply: FastifyReply) => Promise<void>
  }
}
