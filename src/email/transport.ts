// Where a rendered mail goes: an SMTP server (SMTP_URL), or in development
// without one, an .eml file under DATA_DIR/outbox-sent/ and its link logged,
// so that `npm start` needs nothing else.
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import nodemailer from 'nodemailer'
import type { FastifyBaseLogger } from 'fastify'
import type { RenderedMail } from './templates.ts'

export interface OutgoingMail extends RenderedMail { to: string, from: string }

export interface MailTransport {
  kind: 'smtp' | 'file'
  /** Resolves once the server accepted the mail; rejects with nodemailer's error (`responseCode` for an SMTP refusal). */
  deliver: (mail: OutgoingMail, shown: { link?: string, code?: string }) => Promise<void>
  close: () => void
}

// Well inside the sender's lease on a claimed mail (sender.ts): an attempt
// never outlives its claim, so no other instance sends the same mail meanwhile.
const TIMEOUTS = { connectionTimeout: 20_000, greetingTimeout: 20_000, socketTimeout: 60_000 }

export function smtpTransport (smtpUrl: string): MailTransport {
  // smtp://: STARTTLS when the server offers it (nodemailer's default for a
  // plain connection); smtps://: TLS from the first byte.
  const transporter = nodemailer.createTransport({ url: smtpUrl, ...TIMEOUTS })
  return {
    kind: 'smtp',
    async deliver (mail) {
      await transporter.sendMail({ from: mail.from, to: mail.to, subject: mail.subject, text: mail.text, html: mail.html, disableFileAccess: true, disableUrlAccess: true })
    },
    close: () => transporter.close()
  }
}

/** Development only (config and the mail plugin never choose it in production). */
export function fileTransport (dataDir: string, log: FastifyBaseLogger): MailTransport {
  const dir = join(dataDir, 'outbox-sent')
  const transporter = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'unix' })
  let n = 0
  return {
    kind: 'file',
    async deliver (mail, shown) {
      const info = await transporter.sendMail({ from: mail.from, to: mail.to, subject: mail.subject, text: mail.text, html: mail.html, disableFileAccess: true, disableUrlAccess: true })
      mkdirSync(dir, { recursive: true })
      const file = join(dir, `${new Date().toISOString().replace(/[:.]/g, '-')}-${process.pid}-${++n}.eml`)
      writeFileSync(file, info.message as Buffer)
      // Development without SMTP: the link (or code) is in the log so that a developer can follow it.
      log.info({ to: mail.to, subject: mail.subject, file, ...shown }, 'mail written (no SMTP_URL: development)')
    },
    close: () => {}
  }
}
