// One process per embedded database: a second service or the CLI on a
// DATA_DIR in use refuses at once, naming the process that holds it, and
// nothing is lost. Start-up failures are one sentence and exit code 1.
import t from 'tap'
import { spawnSync, spawn } from 'node:child_process'
import { mkdtempSync, mkdirSync, symlinkSync, writeFileSync, existsSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { spawnService, waitFor, freePort } from './helpers/servers.ts'
import { GOOD_PASSWORD } from './helpers/client.ts'
import { lockDataDir, DataDirInUseError } from '../src/db/data-dir-lock.ts'

const exited = (proc: import('node:child_process').ChildProcess) => new Promise<number | null>((resolve) => proc.once('exit', resolve))
const ready = (base: string) => waitFor(async () => { const r = await fetch(`${base}/health/ready`); if (r.status !== 200) throw new Error(String(r.status)) }, 60_000, 'service')
const cli = (dataDir: string, args: string[], input?: string, script = 'src/cli/admin.ts') => spawnSync(process.execPath, [script, ...args], {
  env: { ...process.env, DATABASE_URL: '', REDIS_URL: '', DATA_DIR: dataDir, BCRYPT_COST: '4', AUTH_CLI_PASSWORD: '' },
  input,
  encoding: 'utf8',
  timeout: 60_000
})

t.test('a second service and the CLI refuse a DATA_DIR in use; the CLI works once it is free', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'auth-lock-'))
  const first = await spawnService({ DATA_DIR: dataDir })
  t.teardown(() => { first.proc.kill('SIGKILL') })
  await ready(first.base)

  const second = await spawnService({ DATA_DIR: dataDir })
  t.equal(await exited(second.proc), 1, 'a second service on the same DATA_DIR exits 1 at once')
  t.match(second.output(), new RegExp(`cannot start: DATA_DIR ${dataDir} is in use by process ${first.proc.pid} \\(auth service on 127\\.0\\.0\\.1:${first.port}`), 'naming the process that holds it')
  t.notMatch(second.output(), /\n\s+at /, 'no stack trace')
  t.equal((await fetch(`${first.base}/health/ready`)).status, 200, 'the first one is unharmed')

  const refused = cli(dataDir, ['create-user', 'bob', '--admin'], `${GOOD_PASSWORD}\n`)
  t.equal(refused.status, 1, 'the CLI refuses instead of reporting a success it would lose')
  t.match(refused.stderr, new RegExp(`DATA_DIR ${dataDir} is in use by process ${first.proc.pid}`))
  t.notMatch(refused.stdout, /created/)

  first.proc.kill('SIGTERM')
  t.equal(await exited(first.proc), 0)
  t.notOk(existsSync(join(dataDir, 'lock')), 'a clean stop releases the lock')
  const created = cli(dataDir, ['create-user', 'bob', '--admin'], `${GOOD_PASSWORD}\n`)
  t.equal(created.status, 0, created.stderr)
  const again = await spawnService({ DATA_DIR: dataDir })
  t.teardown(() => { again.proc.kill('SIGKILL') })
  await ready(again.base)
  const login = await fetch(`${again.base}/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-auth-mode': 'header' }, body: JSON.stringify({ username: 'bob', password: GOOD_PASSWORD }) })
  t.equal(login.status, 200, 'the user the CLI created is there after the restart')
  t.same((await login.json()).user.roles, ['admin', 'user'])
})

t.test('a lock left by a process that died is taken over', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'auth-stale-'))
  const dead = spawn(process.execPath, ['-e', ''])
  await exited(dead)
  writeFileSync(join(dataDir, 'lock'), JSON.stringify({ pid: dead.pid, what: 'a service that crashed', since: new Date().toISOString() }))
  const lock = lockDataDir(dataDir, 'this test')
  t.equal(JSON.parse(readFileSync(join(dataDir, 'lock'), 'utf8')).pid, process.pid)
  t.throws(() => lockDataDir(dataDir, 'again'), { constructor: DataDirInUseError, message: /is in use by process / }, 'held now: even this process cannot take it twice')
  lock.release()
  t.notOk(existsSync(join(dataDir, 'lock')))
  writeFileSync(join(dataDir, 'lock'), 'half written')
  lockDataDir(dataDir, 'after a torn write').release()
  t.pass('a torn lock file is taken over')
})

t.test('start-up failures are one sentence and exit 1', async (t) => {
  const deadPort = await freePort()
  const cases: Array<[string, Record<string, string>, RegExp]> = [
    ['an unreachable database', { DATABASE_URL: `postgresql://nobody@127.0.0.1:${deadPort}/none` }, /^cannot start: the database at DATABASE_URL could not be opened or migrated: .*(ECONNREFUSED|connect)/m],
    ['a DATA_DIR that is a file', { DATA_DIR: join(mkdtempSync(join(tmpdir(), 'auth-file-')), 'f') }, /^cannot start: /m],
    ['an empty issuer', { JWT_ISSUER: '' }, /^configuration error: JWT_ISSUER must not be empty/m],
    ['TRUST_PROXY=true in production', { NODE_ENV: 'production', JWT_SECRET: 'Zq81vN0aPq2LmR7tY5wX3cB6kkkkkkkkkkkk', TRUST_PROXY: 'TRUE' }, /^configuration error: TRUST_PROXY=true trusts/m]
  ]
  writeFileSync(cases[1][1].DATA_DIR, 'not a folder')
  for (const [what, env, sentence] of cases) {
    const s = await spawnService({ DATA_DIR: mkdtempSync(join(tmpdir(), 'auth-fail-')), ...env })
    t.equal(await exited(s.proc), 1, what)
    t.match(s.output(), sentence, what)
    t.notMatch(s.output(), /\n\s+at |UnhandledPromiseRejection|node:internal/, `${what}: no stack trace`)
  }
})

t.test('the CLI runs from a path with a space and through a symlink, and logs security events', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'auth-cli-'))
  const spaced = join(mkdtempSync(join(tmpdir(), 'auth cli ')), 'with space')
  mkdirSync(spaced)
  const link = join(spaced, 'admin-link.ts')
  symlinkSync(join(process.cwd(), 'src/cli/admin.ts'), link)
  const created = cli(dataDir, ['create-user', 'carol'], `${GOOD_PASSWORD}\n`, link)
  t.equal(created.status, 0, created.stderr)
  t.match(created.stdout, /created carol/, 'it did its work rather than exiting 0 doing nothing')
  const event = created.stderr.trim().split('\n').map((l) => { try { return JSON.parse(l) } catch { return undefined } }).find((e) => e?.security === true)
  t.match(event, { security: true, event: 'user_created', actor: 'cli', username: 'carol' }, 'one JSON security event line on stderr')
  t.notMatch(created.stderr + created.stdout, new RegExp(GOOD_PASSWORD), 'never the password')
  const disabled = cli(dataDir, ['disable', 'carol'])
  t.equal(disabled.status, 0, disabled.stderr)
  t.match(disabled.stderr, /"event":"user_disabled"/)
  const help = cli(dataDir, ['--help'], undefined, link)
  t.equal(help.status, 0)
  t.match(help.stdout, /usage: npm run admin/)
})
