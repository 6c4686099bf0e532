// Writing a mail: into the outbox, in the transaction of the token it
// carries, sealed at rest. The sender (sender.ts) delivers it later.
import { seal, unseal } from '../keys/sealed.ts'
import type { Prisma } from '../generated/prisma/client.ts'
import type { EmailStore } from './store.ts'
import type { MailFields, TemplateName } from './templates.ts'

/** Mails to one address in an hour, whatever asked for them (RFC-less, but every anchor has one): more are dropped, silently. */
export const MAILS_PER_HOUR = 5
const HOUR = 3600_000

// The sealed body is bound to its recipient and template: a body copied onto
// another row (another address) does not open.
const aad = (recipient: string, template: string) => `mail:${recipient}:${template}`

export function createOutbox (deps: { store: EmailStore, key: Buffer }) {
  const { store, key } = deps

  return {
    /**
     * Writes the mail in `tx`; false when the address has had MAILS_PER_HOUR
     * mails in the last hour (counted under a lock on the address, so the
     * limit holds across instances). The caller's answer does not change:
     * no one learns from it that an address gets mail.
     */
    async enqueue (tx: Prisma.TransactionClient, recipient: string, template: TemplateName, fields: MailFields): Promise<boolean> {
      await store.lockRecipient(tx, recipient)
      if (await store.countSince(tx, recipient, new Date(Date.now() - HOUR)) >= MAILS_PER_HOUR) return false
      await store.insertMail(tx, { recipient, template, sealed: seal(key, aad(recipient, template), Buffer.from(JSON.stringify(fields))) })
      return true
    },

    /** A claimed mail's fields, or undefined if its body does not open (another key, a row tampered with). */
    open (mail: { recipient: string, template: string, sealed: string | null }): MailFields | undefined {
      if (mail.sealed === null) return undefined
      const body = unseal(key, aad(mail.recipient, mail.template), mail.sealed)
      return body === undefined ? undefined : JSON.parse(body.toString()) as MailFields
    }
  }
}

export type Outbox = ReturnType<typeof createOutbox>
