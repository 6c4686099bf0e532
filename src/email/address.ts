// What an email field accepts: a plain address, nothing a mail header could
// be made of. No CR or LF (header injection), no display name, quotes,
// angle brackets, commas or spaces (a second recipient), no comments.
// Stricter than RFC 5321 on purpose: the rare quoted local part is refused.

const ATOM = "[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
const LABEL = '[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?'
/** The JSON-schema pattern of an address (its length is bounded by the schema: 254, RFC 5321's path limit less the brackets). */
export const ADDRESS_PATTERN = `^${ATOM}(?:\\.${ATOM})*@${LABEL}(?:\\.${LABEL})+$`
export const ADDRESS_RE = new RegExp(ADDRESS_PATTERN)
export const ADDRESS_MAX = 254

export const EmailSchema = { type: 'string', minLength: 3, maxLength: ADDRESS_MAX, pattern: ADDRESS_PATTERN } as const

/** Whether `raw` is an address this service mails to. */
export function isAddress (raw: unknown): raw is string {
  return typeof raw === 'string' && raw.length <= ADDRESS_MAX && raw.split('@')[0].length <= 64 && ADDRESS_RE.test(raw)
}

/** The address as it is compared and counted: lower case (verifiedEmailKey, the outbox's recipient). */
export function addressKey (address: string): string {
  return address.toLowerCase()
}

/** For logs of someone else's activity: the first letter and the domain. */
export function masked (address: string): string {
  const at = address.lastIndexOf('@')
  return at < 1 ? '***' : `${address[0]}***${address.slice(at)}`
}
