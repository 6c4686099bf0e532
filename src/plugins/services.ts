// Wires the plain services (no Fastify inside them) to the instance, and
// ensures the bootstrap admin. Decorates `passwords`, `accounts`, `refreshTokens`, `security`.
import fp from 'fastify-plugin'
import type { Config } from '../config.ts'
import { createPasswordHasher, type PasswordHasher } from '../services/passwords.ts'
import { createAccounts, type Accounts } from '../services/accounts.ts'
import { createRefreshTokens, type RefreshTokens } from '../services/refresh-tokens.ts'
import { createUserRevocation, type UserRevocation } from '../services/user-revocation.ts'
import { createUserAdmin, type UserAdmin } from '../services/user-admin.ts'
import { loadHmacSecret, type SigningKey } from '../services/keys.ts'

export default fp(async function servicesPlugin (app, opts: { config: Config, key: SigningKey }) {
  const { config } = opts
  const passwords = createPasswordHasher({ cost: config.bcryptCost, workers: config.hashWorkers })
  app.addHook('onClose', async () => { await passwords.close() })
  // Security events: one structured line each, who/what/where, never a secret.
  const security = app.log.child({ security: true })
  const accounts = createAccounts({ prisma: app.prisma, query: app.db.query, hasher: passwords })
  const refreshTokens = createRefreshTokens({
    prisma: app.prisma,
    query: app.db.query,
    revocations: app.revocations,
    hmacKey: loadHmacSecret(opts.key),
    refreshTtl: config.refreshTokenTtl,
    sessionMaxLifetime: config.sessionMaxLifetime,
    reuseGrace: config.refreshReuseGrace,
    accessTtl: config.accessTokenTtl,
    onReuse: (info) => security.warn({ event: 'refresh_token_reused', ...info }, 'refresh token reused after the grace window: session revoked')
  })
  const userRevocation = createUserRevocation({ prisma: app.prisma, revocations: app.revocations, accessTtl: config.accessTokenTtl })
  app.decorate('passwords', passwords)
  app.decorate('accounts', accounts)
  app.decorate('refreshTokens', refreshTokens)
  app.decorate('userRevocation', userRevocation)
  app.decorate('userAdmin', createUserAdmin({ prisma: app.prisma, userRevocation }))
  app.decorate('security', security)

  await passwords.warm()
  if (config.adminUsername !== undefined && config.adminPassword !== undefined) {
    const outcome = await accounts.ensureAdmin(config.adminUsername, config.adminPassword)
    app.log.info({ username: config.adminUsername, outcome }, 'bootstrap admin ready')
  }
}, { name: 'services', dependencies: ['db', 'revocation-list'] })

declare module 'fastify' {
  interface FastifyInstance {
    passwords: PasswordHasher
    accounts: Accounts
    refreshTokens: RefreshTokens
    userRevocation: UserRevocation
    userAdmin: UserAdmin
    security: import('fastify').FastifyBaseLogger
  }
}
