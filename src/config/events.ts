// The settings of stored events, webhooks and the admin console (config.ts holds their rows).
import { ConfigError, type Env } from './parse.ts'

export interface WebhookConfig { url: string, secret: Buffer }

/** WEBHOOK_URL with WEBHOOK_SECRET, or neither. */
export function webhookConfig (env: Env): WebhookConfig | undefined {
  const raw = env.WEBHOOK_URL ?? ''
  const secret = env.WEBHOOK_SECRET ?? ''
  if (raw === '' && secret === '') return undefined
  if (raw === '' || secret === '') throw new ConfigError('WEBHOOK_URL and WEBHOOK_SECRET go together: set both or neither')
  let url: URL
  try { url = new URL(raw) } catch { throw new ConfigError('WEBHOOK_URL must be an http:// or https:// URL') }
  // The service POSTs there with its own network position: no file:, data: or other schemes.
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new ConfigError('WEBHOOK_URL must be an http:// or https:// URL')
  if (url.username !== '' || url.password !== '') throw new ConfigError('WEBHOOK_URL must not carry credentials: the signature authenticates each message')
  const match = /^whsec_([A-Za-z0-9+/]+={0,2})$/.exec(secret)
  const key = match !== null ? Buffer.from(match[1], 'base64') : Buffer.alloc(0)
  // Standard Webhooks secrets are 24 to 64 random bytes.
  if (key.length < 24 || key.length > 64) throw new ConfigError('WEBHOOK_SECRET must be whsec_ followed by 24 to 64 random bytes in base64 (the Standard Webhooks format)')
  return { url: url.href, secret: key }
}
