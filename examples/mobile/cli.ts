// A mobile-style client from a terminal: the client library in header mode,
// with the refresh token, and the DPoP key its session is bound to, in files
// only their owner can read (the stand-ins for a phone's Keychain/Keystore). Each command is a fresh process, like an app
// launched again: the access token is never written down, only the refresh
// token, and it is rotated on every start.
//
//   npm run example:mobile -- login alice        (password from AUTH_PASSWORD or a prompt;
//                                                 a TOTP code, if asked, from AUTH_CODE or a prompt)
//   npm run example:mobile -- me | sessions | end-session <id> | logout | logout-all
//   npm run example:mobile -- register alice
//   npm run example:mobile -- oidc google     (sign in with a provider in the system browser, RFC 8252:
//                                               the way back is a listener on 127.0.0.1, see loopback.ts)
// Environment: AUTH_URL (default http://127.0.0.1:3000),
//              AUTH_TOKEN_FILE (default ~/.auth-example/refresh-token; the key beside it, dpop-key.json)
//              AUTH_DPOP=off to send no DPoP proofs
//              AUTH_OIDC_PORT: the loopback port (default: a free one; the service's OIDC_RETURN_ORIGINS
//              must list http://127.0.0.1:<port>), AUTH_OPEN_BROWSER=off to only print the address
import { spawn } from 'node:child_process'
import { homedir } from 'node:os'
import { dirname, join } from 'node:path'
import { AuthError, createAuthClient, isMfaRequired, type LoginResult, type OidcOutcome, type SignedOutReason, type User } from '../../client/index.ts'
import { createInterface } from 'node:readline/promises'
import { fileKeyStore, fileStorage } from './file-storage.ts'
import { loopback } from './loopback.ts'

const baseUrl = process.env.AUTH_URL ?? 'http://127.0.0.1:3000'
const tokenFile = process.env.AUTH_TOKEN_FILE ?? join(homedir(), '.auth-example', 'refresh-token')

async function password (): Promise<string> {
  if (process.env.AUTH_PASSWORD !== undefined) return process.env.AUTH_PASSWORD
  const stdin = process.stdin
  process.stdout.write('Password: ')
  if (stdin.isTTY) stdin.setRawMode(true) // no echo
  stdin.setEncoding('utf8')
  let typed = ''
  for await (const chunk of stdin) {
    for (const ch of chunk as string) {
      if (ch === '\u0003') process.exit(130) // Ctrl-C
      if (ch === '\r' || ch === '\n') {
        if (stdin.isTTY) stdin.setRawMode(false)
        stdin.pause()
        process.stdout.write('\n')
        return typed
      }
      typed = ch === '\u007f' ? typed.slice(0, -1) : typed + ch
    }
  }
  return typed
}

async function prompt (question: string): Promise<string> {
  const rl = createInterface({ input: process.stdin, output: process.stdout })
  try { return await rl.question(question) } finally { rl.close() }
}

/** A user with TOTP: the second step, a code from the authenticator app or a recovery code. */
async function secondStep (result: LoginResult): Promise<User> {
  return isMfaRequired(result) ? await result.complete(process.env.AUTH_CODE ?? await prompt('Code (authenticator app or recovery code): ')) : result
}

/** The system browser, where there is one (AUTH_OPEN_BROWSER=off: the address is only printed). */
function openBrowser (url: string): void {
  if (process.env.AUTH_OPEN_BROWSER === 'off') return
  const [cmd, ...args] = process.platform === 'darwin' ? ['open', url] : process.platform === 'win32' ? ['rundll32', 'url.dll,FileProtocolHandler', url] : ['xdg-open', url]
  const child = spawn(cmd, args, { stdio: 'ignore', detached: true })
  child.on('error', () => {}) // no browser here: the printed address is enough
  child.unref()
}

/** RFC 8252: the sign-in in the system browser (header mode), back through a loopback listener, the login_code exchanged with this app's DPoP key. */
async function signInWithProvider (provider: string): Promise<User> {
  const back = await loopback(Number(process.env.AUTH_OIDC_PORT ?? 0), 5 * 60_000)
  try {
    const url = await auth.startOidc(provider, { mode: 'header', returnTo: back.returnTo, navigate: false })
    console.log(`Sign in with ${provider} in your browser (the service must list ${new URL(back.returnTo).origin} in OIDC_RETURN_ORIGINS):\n${url}`)
    openBrowser(url)
    const { params, answer } = await back.received
    try {
      const outcome: OidcOutcome = await auth.completeOidc(`${back.returnTo}#${params}`)
      if (outcome === null || 'linked' in outcome) throw new AuthError(0, 'OIDC_FAILED', 'the browser came back without a sign-in')
      const user = await secondStep(outcome)
      await answer(`Signed in as ${user.username}. You can close this tab and go back to the app.`)
      return user
    } catch (err) {
      await answer(`The sign-in did not complete: ${(err as Error).message}`)
      throw err
    }
  } finally {
    await back.close()
  }
}

const [command, arg] = process.argv.slice(2)
const usage = 'usage: example:mobile -- register <username> | login <username> | oidc <provider> | me | sessions | end-session <id> | logout | logout-all'

const dpop = process.env.AUTH_DPOP === 'off' ? false : fileKeyStore(join(dirname(tokenFile), 'dpop-key.json'))
const auth = createAuthClient({ baseUrl, mode: 'header', storage: fileStorage(tokenFile), dpop })
let signedOut: SignedOutReason | undefined
auth.on('signedOut', ({ reason }) => { signedOut = reason })

async function run (): Promise<void> {
  switch (command) {
    case 'register': {
      if (arg === undefined) throw new Error(usage)
      const user = await auth.register(arg, await password())
      console.log(`registered ${user.username} (${user.id})`)
      return
    }
    case 'login': {
      if (arg === undefined) throw new Error(usage)
      const user = await secondStep(await auth.login(arg, await password()))
      console.log(`signed in as ${user.username}; refresh token kept in ${tokenFile} (mode 600)`)
      return
    }
    case 'oidc': {
      if (arg === undefined) throw new Error(usage)
      const user = await signInWithProvider(arg)
      console.log(`signed in as ${user.username}; refresh token kept in ${tokenFile} (mode 600)`)
      return
    }
    case 'me': {
      const user = await auth.me()
      console.log(`${user.username} (${user.id}) roles: ${user.roles.join(', ')}`)
      return
    }
    case 'sessions': {
      for (const s of await auth.sessions()) {
        console.log(`${s.current ? '*' : ' '} ${s.id}  started ${s.createdAt}  last used ${s.lastUsedAt}  ${s.userAgent ?? ''}`)
      }
      return
    }
    case 'end-session': {
      if (arg === undefined) throw new Error(usage)
      await auth.endSession(arg)
      console.log(`session ${arg} ended`)
      return
    }
    case 'logout':
      await auth.logout()
      console.log('signed out')
      return
    case 'logout-all':
      await auth.logoutAll()
      console.log('signed out of every session')
      return
    default:
      throw new Error(usage)
  }
}

try {
  await run()
} catch (err) {
  if (signedOut !== undefined || (err instanceof AuthError && err.code === 'SIGNED_OUT')) {
    console.error(`signed out${signedOut !== undefined ? ` (${signedOut})` : ''}: sign in again with "login <username>"`)
    process.exitCode = 2
  } else {
    console.error(err instanceof AuthError ? `error: ${err.message} (${err.code})` : `error: ${(err as Error).message}`)
    process.exitCode = 1
  }
} finally {
  auth.close()
}
