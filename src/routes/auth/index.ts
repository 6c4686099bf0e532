import type { FastifyInstance } from 'fastify'
import type { Config } from '../../config.ts'
import { ErrorSchema } from './schemas.ts'
import credentialRoutes from './credentials.ts'
import sessionRoutes from './session.ts'
import identityRoutes from './identity.ts'

export default async function authRoutes (app: FastifyInstance, opts: { config: Config }) {
  if (app.getSchema('Error') === undefined) app.addSchema(ErrorSchema)
  await app.register(credentialRoutes, { config: opts.config })
  await app.register(sessionRoutes, { config: opts.config })
  await app.register(identityRoutes)
}
