// Wires the plain services (no Fastify inside them) to the instance, ensures
// the bootstrap admin and prunes on a timer. Decorates `passwords`,
// `accounts`, `sessions`, `rotation`, `csrf`, `userRevocation`, `userAdmin`, `security`,
// the second factors, and `stepUp` with its hook `requireStepUp`.
import fp from 'fastify-plugin'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { createSecretKey } from 'node:crypto'
import type { Config } from '../config.ts'
import { createPasswordHasher, type PasswordHasher } from '../services/passwords.ts'
import { createAccounts, type Accounts } from '../services/accounts.ts'
import { createSessions, type Sessions } from '../services/sessions.ts'
import { createRotation, type RefreshRotation } from '../services/rotation.ts'
import { createCsrf, type Csrf } from '../services/csrf.ts'
import { createUserRevocation, type UserRevocation } from '../services/user-revocation.ts'
import { createUserAdmin, type UserAdmin } from '../services/user-admin.ts'
import { createPasswordLife, type PasswordLife } from '../services/password-life.ts'
import { createTotp, type Totp } from '../services/totp.ts'
import { createMfaTokens, type MfaTokens } from '../services/mfa-tokens.ts'
import { createPasskeys, type Passkeys } from '../services/passkeys.ts'
import { createStepUp, type StepUp } from '../services/step-up.ts'
import { createSessionAuth, type SessionAuth } from '../services/session-auth.ts'

export default fp(async function servicesPlugin (app, opts: { config: Config }) {
  const { config } = opts
  const passwords = createPasswordHasher({ cost: config.bcryptCost, workers: config.hashWorkers })
  app.addHook('onClose', async () => { await passwords.close() })
  // Security events: one structured line each, who/what/where, never a secret.
  const security = app.log.child({ security: true })
  const accounts = createAccounts({ prisma: app.prisma, query: app.db.query, hasher: passwords })
  // Its own secret, not the signing key's: no key rotation ever breaks a session.
  const hmacKey = createSecretKey(app.keys.sessionSecret) // imported once, not on every HMAC
  const sessions = createSessions({
    prisma: app.prisma,
    query: app.db.query,
    revocations: app.revocations,
    refreshTtl: config.refreshTokenTtl,
    sessionMaxLifetime: config.sessionMaxLifetime,
    reread: accounts.reread
  })
  const rotation = createRotation({
    prisma: app.prisma,
    query: app.db.query,
    sessions,
    hmacKey,
    refreshTtl: config.refreshTokenTtl,
    reuseGrace: config.refreshReuseGrace,
    onReuse: (info) => security.warn({ event: 'refresh_token_reused', ...info }, 'refresh token reused after the grace window: session revoked')
  })
  const userRevocation = createUserRevocation({ prisma: app.prisma, revocations: app.revocations })
  app.decorate('passwords', passwords)
  app.decorate('accounts', accounts)
  app.decorate('sessions', sessions)
  app.decorate('rotation', rotation)
  app.decorate('csrf', createCsrf(hmacKey))
  app.decorate('userRevocation', userRevocation)
  app.decorate('userAdmin', createUserAdmin({ prisma: app.prisma, userRevocation }))
  app.decorate('security', security)
  const passwordLife = createPasswordLife({ prisma: app.prisma, accounts, hasher: passwords, revocations: app.revocations, userRevocation, resetTtl: config.passwordResetTtl })
  const mfaTokens = createMfaTokens({ prisma: app.prisma })
  const passkeys = createPasskeys({ prisma: app.prisma, ...config.webauthn, hmacKey: app.keys.sessionSecret })
  app.decorate('passwordLife', passwordLife)
  app.decorate('totp', createTotp({ prisma: app.prisma, key: app.keys.factorKey, issuer: config.webauthn.rpName }))
  app.decorate('mfaTokens', mfaTokens)
  app.decorate('passkeys', passkeys)
  const stepUp = createStepUp({ prisma: app.prisma, maxAge: config.reauthMaxAge })
  app.decorate('stepUp', stepUp)
  app.decorate('sessionAuth', createSessionAuth({ prisma: app.prisma }))
  // After app.authenticate: the one place a sensitive change asks for step-up (services/step-up.ts).
  app.decorate('requireStepUp', async function requireStepUp (request: FastifyRequest, _reply: FastifyReply) {
    await stepUp.check(request.auth!.sub, request.auth!)
  })

  async function pruneAll () {
    const [pruned, resets, mfa, challenges] = await Promise.all([sessions.prune(), passwordLife.prune(), mfaTokens.prune(), passkeys.prune()])
    return { ...pruned, resets, mfa, challenges }
  }

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

declare module 'fastify' {
  interface FastifyInstance {
    passwords: PasswordHasher
    accounts: Accounts
    sessions: Sessions
    rotation: RefreshRotation
    csrf: Csrf
    userRevocation: UserRevocation
    userAdmin: UserAdmin
    security: import('fastify').FastifyBaseLogger
    passwordLife: PasswordLife
    totp: Totp
    mfaTokens: MfaTokens
    passkeys: Passkeys
    stepUp: StepUp
    sessionAuth: SessionAuth
    /** preHandler of a sensitive change: 401 MFA_REQUIRED or REAUTH_REQUIRED (services/step-up.ts). */
    requireStepUp: (request: FastifyRequest, reply: FastifyReply) => Promise<void>
  }
}
