import type { FastifyInstance } from 'fastify'
import type { Config } from '../../config.ts'
import credentialRoutes from './credentials.ts'
import refreshAndLogoutRoutes from './refresh-and-logout.ts'
import identityRoutes from './identity.ts'
import sessionListRoutes from './session-list.ts'
import passwordRoutes from './password.ts'
import secondFactorRoutes from './second-factor.ts'
import passkeyRoutes from './passkeys.ts'
import reauthenticateRoutes from './reauthenticate.ts'
import oidcRoutes from './oidc.ts'
import identityLinkRoutes from './identities.ts'
import ownEventRoutes from './events.ts'
import emailRoutes, { emailLoginRoutes } from './email.ts'
import { withCookies } from './token-response.ts'

export default async function authRoutes (app: FastifyInstance, opts: { config: Config }) {
  // Login, refresh and logout read or set the cookies; /login/mfa and
  // /passkeys/authentication take them in a scope of their own.
  await withCookies(app, async (scope) => {
    await scope.register(credentialRoutes, { config: opts.config })
    await scope.register(refreshAndLogoutRoutes, { config: opts.config })
    await scope.register(emailLoginRoutes, { config: opts.config })
  })
  await app.register(identityRoutes)
  await app.register(sessionListRoutes)
  await app.register(passwordRoutes)
  await app.register(secondFactorRoutes, { config: opts.config })
  await app.register(passkeyRoutes, { config: opts.config })
  await app.register(reauthenticateRoutes)
  await app.register(oidcRoutes, { config: opts.config })
  await app.register(identityLinkRoutes, { config: opts.config })
  await app.register(emailRoutes)
  await app.register(ownEventRoutes)
}
