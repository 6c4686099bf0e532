// Runs the outbox's sender (email/sender.ts) on every instance: through
// SMTP_URL, or in development without it into .eml files. In production
// without SMTP_URL there is no sender and the email routes answer 503
// EMAIL_UNAVAILABLE. Stopped before the database closes.
import fp from 'fastify-plugin'
import type { Config } from '../config.ts'
import { EmailUnavailableError } from '../errors.ts'
import { createSender, type Sender } from '../email/sender.ts'
import { fileTransport, smtpTransport } from '../email/transport.ts'

export default fp(async function mailPlugin (app, opts: { config: Config }) {
  const { config } = opts
  const mail = config.mail
  const transport = mail.smtpUrl !== undefined
    ? smtpTransport(mail.smtpUrl)
    : config.nodeEnv !== 'production' ? fileTransport(config.dataDir, app.log) : undefined
  const sender = transport === undefined
    ? undefined
    : createSender({ store: app.email.store, outbox: app.email.outbox, templates: app.email.templates, transport, from: mail.from, log: app.log.child({ mail: true }), pollMs: mail.pollInterval * 1000 })
  if (transport?.kind === 'file') app.log.info({ dir: `${config.dataDir}/outbox-sent` }, 'no SMTP_URL: mails are written as .eml files (development)')
  if (sender !== undefined) {
    app.email.hooks.queued = sender.wake
    app.addHook('onReady', async () => { sender.start() })
    app.addHook('preClose', async () => { await sender.stop() })
  }
  app.decorate('mail', {
    sender,
    /** preHandler of the routes that send mail. */
    async requireMail () {
      if (sender === undefined) throw new EmailUnavailableError()
    }
  })
}, { name: 'mail', dependencies: ['services'] })

declare module 'fastify' {
  interface FastifyInstance {
    mail: { sender: Sender | undefined, requireMail: () => Promise<void> }
  }
}
