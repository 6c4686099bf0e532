// npm run admin -- <command>: the operator's tool for when no admin exists yet
// or the API is not reachable. It works on the database the service uses
// (DATABASE_URL, or the embedded one under DATA_DIR) and, with Redis
// (REDIS_URL, REDIS_SENTINELS or REDIS_CLUSTER_NODES), tells running instances of every revocation at once.
import { createInterface } from 'node:readline/promises'
import { realpathSync } from 'node:fs'
import { pathToFileURL } from 'node:url'
import { loadConfig, ConfigError } from '../config.ts'
import { openDatabase } from '../db/database.ts'
import { createServices } from '../services.ts'
import { createRevocationList, createMemoryBackend } from '../revocation/mirror.ts'
import { createRedisBackend } from '../revocation/redis-backend.ts'
import { keyViews, type KeyView } from '../keys/signing-keys.ts'
import { createKeyOperations } from '../keys/operations.ts'
import { keyEncryptionSecret, managedKeyStore, serviceSecrets, staticKey } from '../keys/secrets.ts'
import { revocationUntil, type RevocationList } from '../revocation/mirror.ts'
import type { Config } from '../config.ts'
import type { Database } from '../db/database.ts'

const HELP = `usage: npm run admin -- <command>

  list [<limit>]                     the users (first 100 by default): name, id,
                                     roles, disabled, email and whether verified
  create-user <username> [--admin]   create a user; the password is read from
                                     AUTH_CLI_PASSWORD or the first line of stdin
  grant <username> <role>            add a role (user, admin)
  revoke <username> <role>           remove a role (not from the last admin)
  logout <username>                  end every session of the user
  disable <username>                 the user can no longer log in; sessions end
  enable <username>                  undo disable
  reset-link <username>              print a one-time password reset token
                                     (PASSWORD_RESET_TTL); every session of the
                                     user ends; the user sets a new password
                                     with POST /auth/password/reset
  mfa-reset <username>               delete the user's TOTP and recovery codes
                                     (a lost authenticator; passkeys stay);
                                     every session of the user ends
  keys list                          the signing keys and their states
  keys rotate                        publish the next key now (it signs
                                     JWKS_MAX_AGE later; no one is logged out)
  keys revoke <kid>                  emergency: that key's tokens are refused at
                                     once; sessions refresh into a new key
  --help                             this text

Environment: DATABASE_URL (or DATA_DIR for the embedded database), REDIS_URL,
REDIS_SENTINELS or REDIS_CLUSTER_NODES (so that running instances hear of
revocations at once), BCRYPT_COST, and for
keys KEY_ENCRYPTION_SECRET as the service has it.
The embedded database takes one process at a time: while a service runs on
it, this refuses and names that process (use the admin API instead).
Every change is also written to stderr as a JSON security event.`

async function readPassword (): Promise<string> {
  if (process.env.AUTH_CLI_PASSWORD) return process.env.AUTH_CLI_PASSWORD
  const rl = createInterface({ input: process.stdin, terminal: false })
  const first = await rl[Symbol.asyncIterator]().next()
  rl.close()
  if (first.done === true) throw new Error('no password given (AUTH_CLI_PASSWORD or stdin)')
  return first.value
}

export async function main (argv: string[]): Promise<number> {
  const [command, ...args] = argv
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    console.log(HELP)
    return command === undefined ? 1 : 0
  }
  const known = ['list', 'create-user', 'grant', 'revoke', 'logout', 'disable', 'enable', 'keys', 'reset-link', 'mfa-reset']
  if (!known.includes(command) || (args[0] === undefined && command !== 'list')) {
    console.error(`unknown or incomplete command: ${[command, ...args].join(' ')}\n\n${HELP}`)
    return 2
  }
  let config
  let db
  try {
    config = loadConfig()
    db = await openDatabase(config, `admin CLI: ${command} ${args[0]}`)
    await db.migrate()
  } catch (err) {
    await db?.close().catch(() => {})
    console.error(err instanceof ConfigError ? `configuration error: ${err.message}` : `error: ${(err as Error).message.split('\n')[0]}`)
    return 1
  }
  const revocations = createRevocationList({
    backend: config.redis !== undefined ? createRedisBackend(config.redis) : createMemoryBackend(),
    loadDurable: async () => [],
    pollIntervalMs: 0
  })
  await revocations.start()
  // The service's own graph: a change made here is made as the API makes it.
  const fixed = staticKey(config)
  const services = createServices({ config, db, revocations, ...serviceSecrets(config, fixed, fixed === undefined ? keyEncryptionSecret(config).secret : undefined), hashWorkers: 1 })
  const { accounts, userAdmin: admin } = services
  try {
    if (!await revocations.waitUntilTrusted(5000)) throw new Error('Redis (REDIS_URL, REDIS_SENTINELS or REDIS_CLUSTER_NODES) is not reachable')
    const username = args[0]
    switch (command) {
      case 'list': {
        const { users } = await admin.list(Number(username ?? 100))
        for (const u of users) {
          const email = u.email === null ? '-' : `${u.email} (${u.emailVerified ? 'verified' : 'not verified'})`
          console.log(`${u.username}\t${u.id}\t${u.roles.join(',')}\t${u.disabled ? 'disabled' : 'enabled'}\t${email}`)
        }
        break
      }
      case 'create-user': {
        const user = await accounts.register(username, await readPassword(), args.includes('--admin') ? ['user', 'admin'] : ['user'])
        securityEvent('user_created', user.id, { username: user.username, roles: user.roles })
        console.log(`created ${user.username} (${user.id}) with roles ${user.roles.join(', ')}`)
        break
      }
      case 'grant':
      case 'revoke': {
        const role = args[1]
        if (role === undefined) throw new Error(`${command} needs a role`)
        const user = await admin.byUsername(username)
        const roles = command === 'grant' ? [...user.roles, role] : user.roles.filter((r) => r !== role)
        const updated = await admin.setRoles(user.id, roles)
        securityEvent('roles_changed', updated.id, { roles: updated.roles })
        console.log(`${updated.username} now has roles ${updated.roles.join(', ') || '(none)'}`)
        break
      }
      case 'logout': {
        const { id } = await admin.byUsername(username)
        await admin.endSessions(id)
        securityEvent('user_logged_out', id)
        console.log(`ended every session of ${username}`)
        break
      }
      case 'keys':
        await keys(config, db, revocations, args)
        break
      case 'reset-link': {
        const { id } = await admin.byUsername(username)
        const { resetToken, expiresIn } = await services.passwordLife.issueReset(id)
        securityEvent('password_reset_issued', id)
        // The token on stdout alone (for a script); what it is, on stderr.
        console.error(`one-time reset token for ${username}, valid ${expiresIn} s; every session of the user has ended:`)
        console.log(resetToken)
        break
      }
      case 'mfa-reset': {
        const { id } = await admin.byUsername(username)
        await admin.resetMfa(id)
        securityEvent('mfa_reset', id)
        console.log(`${username}: TOTP and recovery codes removed, every session ended; passkeys kept`)
        break
      }
      case 'disable':
      case 'enable': {
        const { id } = await admin.byUsername(username)
        await admin.setDisabled(id, command === 'disable')
        securityEvent(command === 'disable' ? 'user_disabled' : 'user_enabled', id)
        console.log(`${username} ${command}d`)
        break
      }
    }
    return 0
  } catch (err) {
    const e = err as { code?: string, message?: string }
    console.error(`error${e.code !== undefined ? ` ${e.code}` : ''}: ${e.message}`)
    return 1
  } finally {
    await services.close()
    await revocations.close()
    await db.close()
  }
}

async function keys (config: Config, db: Database, revocations: RevocationList, args: string[]): Promise<void> {
  const [sub, kid] = args
  if (staticKey(config) !== undefined) throw new Error('signing keys are static (JWT_PRIVATE_KEY or JWT_SECRET): rotate them by changing the configuration')
  const { store, retireAfterMs } = managedKeyStore(config, db.prisma)
  const ops = createKeyOperations(store, revocations, revocationUntil)
  const show = (k: KeyView) => console.log(`${k.kid}  ${k.alg}  ${k.state.padEnd(9)}  signs from ${k.signsFrom}${k.retiresAt !== null ? `  retires ${k.retiresAt}` : ''}`)
  const viewOf = async (kid: string) => keyViews(await store.load(), Date.now(), retireAfterMs).find((k) => k.kid === kid)!
  if (sub === 'list') {
    await store.ensure()
    for (const k of keyViews(await store.load(), Date.now(), retireAfterMs)) show(k)
  } else if (sub === 'rotate') {
    const row = await ops.rotate()
    securityEvent('signing_key_rotated', row.kid)
    show(await viewOf(row.kid))
  } else if (sub === 'revoke' && kid !== undefined) {
    const out = await ops.revoke(kid)
    if (out === undefined) throw new Error(`no signing key ${kid}`)
    securityEvent('signing_key_revoked', kid)
    show(await viewOf(kid))
    if (out.replacement !== undefined) show(await viewOf(out.replacement.kid))
  } else {
    throw new Error('keys takes list, rotate, or revoke <kid>')
  }
}

/** A JSON security event on stderr, as the API logs one (who, what, never a secret). */
function securityEvent (event: string, target: string, extra: object = {}): void {
  console.error(JSON.stringify({ level: 30, time: Date.now(), security: true, event, actor: 'cli', operator: process.env.USER ?? null, target, ...extra, msg: `admin CLI: ${event}` }))
}

// Run as a program, whatever the path looks like (spaces, symlinks); not when imported by the tests.
const invoked = process.argv[1] !== undefined ? pathToFileURL(realpathSync(process.argv[1])).href : ''
if (import.meta.url === invoked) {
  process.exitCode = await main(process.argv.slice(2))
}
