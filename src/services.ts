// The service graph: every plain service (no Fastify inside), built in one
// place from the configuration, the database, the revocation list and the
// secrets. plugins/services.ts decorates the instance with it; the operator
// CLI builds the same graph, so both change a user the same way.
import { createSecretKey } from 'node:crypto'
import type { Config } from './config.ts'
import type { Database } from './db/database.ts'
import type { RevocationList } from './revocation/mirror.ts'
import { createPasswordHasher } from './passwords/hasher.ts'
import { createAccounts } from './accounts/accounts.ts'
import { createAccountStore } from './accounts/store.ts'
import { createSessions } from './sessions/sessions.ts'
import { createSessionStore } from './sessions/store.ts'
import { createRotation } from './sessions/rotation.ts'
import { createCsrf } from './sessions/csrf.ts'
import { createUserRevocation } from './revocation/user-revocation.ts'
import { createRevocationStore } from './revocation/store.ts'
import { createUserAdmin } from './accounts/admin.ts'
import { createPasswordLife } from './passwords/change-and-reset.ts'
import { createPasswordStore } from './passwords/store.ts'
import { createTotp } from './mfa/totp.ts'
import { createMfaTokens } from './mfa/mfa-tokens.ts'
import { createPasskeys } from './mfa/passkeys.ts'
import { createStepUp } from './mfa/step-up.ts'
import { createMfaStore } from './mfa/store.ts'
import { createSessionAuth } from './sessions/session-auth.ts'
import { createOidcStore } from './oidc/store.ts'
import { createProviders } from './oidc/providers.ts'
import { createOidcFlow } from './oidc/flow.ts'
import { createIdentities } from './oidc/identities.ts'
import { createProviderTokens } from './oidc/provider-tokens.ts'
import { createLoginCodes } from './oidc/login-codes.ts'
import { createEventStore } from './events/store.ts'
import { createEvents } from './events/recorder.ts'
import { createEmail } from './email/email.ts'
import { createUserSearch } from './accounts/search.ts'

export interface ServiceDeps {
  config: Config
  db: Pick<Database, 'prisma' | 'query'>
  revocations: RevocationList
  /** The HMAC key of CSRF values and refresh-token successors (never a signing key). */
  sessionSecret: Buffer
  /** Seals TOTP secrets at rest. */
  factorKey: Buffer
  /** A refresh token shown again after the grace window (the session has been ended). */
  onReuse?: (info: { sessionId: string, userId: string }) => void
  /** bcrypt worker threads; default HASH_WORKERS. */
  hashWorkers?: number
}

export function createServices (deps: ServiceDeps) {
  const { config, revocations } = deps
  const { prisma, query } = deps.db
  const passwords = createPasswordHasher({ cost: config.bcryptCost, workers: deps.hashWorkers ?? config.hashWorkers })
  const accountStore = createAccountStore({ prisma, query })
  const accounts = createAccounts({ store: accountStore, hasher: passwords })
  // Imported once, not on every HMAC; its own secret, so no key rotation ever breaks a session.
  const hmacKey = createSecretKey(deps.sessionSecret)
  const sessionStore = createSessionStore({ prisma, query })
  const sessions = createSessions({
    store: sessionStore,
    revocations,
    refreshTtl: config.refreshTokenTtl,
    sessionMaxLifetime: config.sessionMaxLifetime,
    reread: accounts.reread
  })
  const rotation = createRotation({ store: sessionStore, sessions, hmacKey, refreshTtl: config.refreshTokenTtl, reuseGrace: config.refreshReuseGrace, onReuse: deps.onReuse })
  // Security events (events/): written inside the changes they record, so built before them.
  const events = createEvents({ store: createEventStore({ prisma }), webhooks: config.webhook !== undefined, retentionDays: config.eventRetentionDays })
  const userRevocation = createUserRevocation({ store: createRevocationStore({ prisma }), sessions: sessionStore, revocations, events })
  const mfaStore = createMfaStore({ prisma })
  const mfaTokens = createMfaTokens({ store: mfaStore })
  const passkeys = createPasskeys({ store: mfaStore, ...config.webauthn, hmacKey: deps.sessionSecret })
  // After the mfa store: a password change asks for step-up and ends second steps in flight.
  const passwordLife = createPasswordLife({
    store: createPasswordStore({ prisma }),
    sessions: sessionStore,
    users: accountStore,
    mfa: mfaStore,
    accounts,
    hasher: passwords,
    revocations,
    userRevocation,
    resetTtl: config.passwordResetTtl,
    reauthMaxAge: config.reauthMaxAge,
    events
  })
  const oidcStore = createOidcStore({ prisma, query })
  const providers = createProviders(config.oidc, config.publicUrl)
  const services = {
    passwords,
    accounts,
    sessions,
    rotation,
    csrf: createCsrf(hmacKey),
    userRevocation,
    userAdmin: createUserAdmin({ store: accountStore, mfa: mfaStore, userRevocation }),
    passwordLife,
    totp: createTotp({ store: mfaStore, key: deps.factorKey, issuer: config.webauthn.rpName }),
    mfaTokens,
    passkeys,
    stepUp: createStepUp({ store: mfaStore, maxAge: config.reauthMaxAge }),
    sessionAuth: createSessionAuth({ store: sessionStore }),
    events,
    userSearch: createUserSearch({ prisma }),
    // Sign-in with OpenID Connect providers (src/oidc/).
    oidc: {
      providers,
      flow: createOidcFlow({ providers, store: oidcStore, returnOrigins: config.oidc.returnOrigins, publicUrl: config.publicUrl }),
      identities: createIdentities({ store: oidcStore, users: accountStore, sessions: sessionStore, endOpenedBy: sessions.endOpenedBy, revocations }),
      tokens: createProviderTokens({ store: oidcStore }),
      loginCodes: createLoginCodes({ store: oidcStore })
    },
    // Addresses, forgot-password and sign-in codes (src/email/); mail sealed at rest with the factor key.
    email: createEmail({ prisma, users: accountStore, resets: createPasswordStore({ prisma }), key: deps.factorKey, mail: config.mail, resetTtl: config.passwordResetTtl })
  }

  /** Deletes what no check needs anymore: expired tokens, challenges, old sessions. */
  async function pruneAll () {
    const [pruned, resets, mfa, challenges, oidc, securityEvents] = await Promise.all([sessions.prune(), passwordLife.prune(), mfaTokens.prune(), passkeys.prune(), oidcStore.prune(new Date()), events.prune()])
    const email = await services.email.prune()
    return { ...pruned, resets, mfa, challenges, oidc, securityEvents, email }
  }

  return { ...services, pruneAll, close: () => passwords.close() }
}

export type Services = ReturnType<typeof createServices>
