// A real SMTP server in the test process (smtp-server), its messages parsed
// with mailparser: the service's mail goes through nodemailer and the
// network exactly as in production. It can stop, start again on the same
// port (an outage), and refuse mail with a 4xx or 5xx answer.
import { SMTPServer, type SMTPServerDataStream } from 'smtp-server'
import { simpleParser, type ParsedMail } from 'mailparser'
import type { AddressInfo } from 'node:net'

interface Teardown { teardown: (fn: () => unknown) => void }

export interface SmtpSink {
  port: number
  /** smtp://user:pass@127.0.0.1:<port> */
  url: string
  /** Every message accepted since the start (across restarts), parsed. */
  messages: ParsedMail[]
  /** Every RCPT TO accepted or refused (counts attempts). */
  attempts: number
  /** Answer each DATA with this code (451: try later; 550: refused), or accept (undefined). */
  failWith: (code: number | undefined) => void
  stop: () => Promise<void>
  start: () => Promise<void>
  /** Waits until `n` messages have arrived (or throws after `ms`). */
  waitFor: (n: number, ms?: number) => Promise<ParsedMail[]>
  /** The messages to one address. */
  to: (address: string) => ParsedMail[]
}

export async function smtpSink (t: Teardown): Promise<SmtpSink> {
  let server: SMTPServer | undefined
  let failCode: number | undefined
  let port = 0
  const sink: SmtpSink = {
    port: 0,
    url: '',
    messages: [],
    attempts: 0,
    failWith: (code) => { failCode = code },
    async stop () {
      const s = server
      server = undefined
      if (s !== undefined) await new Promise<void>((resolve) => s.close(() => resolve()))
    },
    async start () {
      const s = new SMTPServer({
        // Plain SMTP (no certificate here); the service's STARTTLS-when-offered is nodemailer's default.
        disabledCommands: ['STARTTLS'],
        authOptional: true,
        logger: false,
        onAuth (_auth, _session, callback) { callback(null, { user: 'test' }) },
        onData (stream: SMTPServerDataStream, _session, callback) {
          sink.attempts++
          const code = failCode
          simpleParser(stream).then((parsed) => {
            if (code !== undefined) {
              const err = Object.assign(new Error(code >= 500 ? 'Mailbox unavailable' : 'Try again later'), { responseCode: code })
              callback(err)
              return
            }
            sink.messages.push(parsed)
            callback()
          }, (err: Error) => callback(err))
        }
      })
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject)
        s.listen(port, '127.0.0.1', () => resolve())
      })
      port = (s.server.address() as AddressInfo).port
      sink.port = port
      sink.url = `smtp://user:pass@127.0.0.1:${port}`
      server = s
    },
    async waitFor (n, ms = 15_000) {
      const until = Date.now() + ms
      while (sink.messages.length < n) {
        if (Date.now() > until) throw new Error(`waited ${ms} ms for ${n} messages, have ${sink.messages.length}`)
        await new Promise((resolve) => setTimeout(resolve, 25))
      }
      return sink.messages
    },
    to: (address) => sink.messages.filter((m) => addressesOf(m).includes(address.toLowerCase()))
  }
  await sink.start()
  t.teardown(() => sink.stop())
  return sink
}

export function addressesOf (m: ParsedMail): string[] {
  const to = Array.isArray(m.to) ? m.to : m.to === undefined ? [] : [m.to]
  return to.flatMap((a) => a.value.map((v) => (v.address ?? '').toLowerCase()))
}

/** The token of a mailed `#verify=` or `#reset=` link, from the text part. */
export function linkToken (m: ParsedMail, kind: 'verify' | 'reset'): string {
  const found = new RegExp(`#${kind}=([A-Za-z0-9_-]+)`).exec(m.text ?? '')
  if (found === null) throw new Error(`no #${kind}= link in: ${m.text}`)
  return found[1]
}

/** The 6-digit code of a sign-in mail. */
export function mailedCode (m: ParsedMail): string {
  const found = /\b(\d{6})\b/.exec(m.text ?? '')
  if (found === null) throw new Error(`no code in: ${m.text}`)
  return found[1]
}
