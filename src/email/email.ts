// The email domain as one service: the flows (verification, change of
// address, forgot-password), sign-in codes, the outbox and what the sender
// needs. services.ts builds it; plugins/mail.ts runs the sender.
import type { PrismaClient } from '../generated/prisma/client.ts'
import type { AccountStore } from '../accounts/store.ts'
import type { PasswordStore } from '../passwords/store.ts'
import type { MailConfig } from '../config/email.ts'
import { createEmailStore } from './store.ts'
import { createOutbox } from './outbox.ts'
import { createEmailFlows, type EmailHooks } from './flows.ts'
import { createEmailLoginCodes } from './login-codes.ts'
import { loadTemplates } from './templates.ts'

/** Sent and given-up mails are kept a week (the hourly count needs an hour; an operator may look back). */
const KEEP_MAILS_MS = 7 * 24 * 3600_000

export function createEmail (deps: {
  prisma: PrismaClient
  users: Pick<AccountStore, 'findForLoginByVerifiedEmail'>
  resets: Pick<PasswordStore, 'insertReset' | 'deleteResetsOf'>
  /** Seals mails at rest (the factor key: the same on every instance). */
  key: Buffer
  mail: MailConfig
  resetTtl: number
}) {
  const store = createEmailStore({ prisma: deps.prisma })
  const outbox = createOutbox({ store, key: deps.key })
  const hooks: EmailHooks = {}
  return {
    config: deps.mail,
    store,
    outbox,
    templates: loadTemplates(deps.mail.templatesDir),
    flows: createEmailFlows({ store, outbox, resets: deps.resets, resetTtl: deps.resetTtl, linkBase: deps.mail.linkBase, hooks }),
    loginCodes: createEmailLoginCodes({ store, users: deps.users, outbox, hooks }),
    hooks,
    async prune (now = Date.now()): Promise<number> {
      const [tokens, mails] = await Promise.all([store.pruneTokens(new Date(now)), store.pruneMails(new Date(now - KEEP_MAILS_MS))])
      return tokens + mails
    }
  }
}

export type Email = ReturnType<typeof createEmail>
