import type { FastifyInstance } from 'fastify'
import type { Config } from '../../config.ts'
import credentialRoutes from './credentials.ts'
import refreshAndLogoutRoutes from './refresh-and-logout.ts'
import identityRoutes from './identity.ts'
import sessionListRoutes from './session-list.ts'
import passwordRoutes from './password.ts'
import secondFactorRoutes from './second-factor.ts'
import passkeyRoutes from './passkeys.ts'

export default async function authRoutes (app: FastifyInstance, opts: { config: Config }) {
  await app.register(credentialRoutes, { config: opts.config })
  await app.register(refreshAndLogoutRoutes, { config: opts.config })
  await app.register(identityRoutes)
  await app.register(sessionListRoutes)
  await app.register(passwordRoutes)
  await app.register(secondFactorRoutes, { config: opts.config })
  await app.register(passkeyRoutes, { config: opts.config })
}
