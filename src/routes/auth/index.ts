import type { FastifyInstance } from 'fastify'
import type { Config } from '../../config.ts'
import credentialRoutes from './credentials.ts'
import sessionRoutes from './session.ts'
import identityRoutes from './identity.ts'
import sessionListRoutes from './sessions.ts'

export default async function authRoutes (app: FastifyInstance, opts: { config: Config }) {
  await app.register(credentialRoutes, { config: opts.config })
  await app.register(sessionRoutes, { config: opts.config })
  await app.register(identityRoutes)
  await app.register(sessionListRoutes)
}
