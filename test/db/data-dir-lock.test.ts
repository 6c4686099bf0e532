// One process per embedded database: a second service or the CLI on a
// DATA_DIR in use, in this PID namespace or another (a second container on
// the volume), refuses at once naming the process that holds it, and nothing
// is lost; a holder that died blocks nothing. Start-up failures are one
// sentence and exit code 1.
import t from 'tap'
import { spawnSync, spawn } from 'node:child_process'
import { mkdtempSync, mkdirSync, symlinkSync, writeFileSync, existsSync, readFileSync } from 'node:fs'
import { tmpdir, hostname } from 'node:os'
import { join } from 'node:path'
import { spawnService, waitFor, freePort } from '../helpers/servers.ts'
import { GOOD_PASSWORD } from '../helpers/client.ts'
import { lockDataDir, DataDirInUseError } from '../../src/db/data-dir-lock.ts'

const exited = (proc: import('node:child_process').ChildProcess) => new Promise<number | null>((resolve) => proc.once('exit', resolve))
/** A process started on a DATA_DIR in use: its exit code, or 'serving' when it comes up beside the holder (the defect). */
async function refusedOrServing (proc: import('node:child_process').ChildProcess, base: string): Promise<number | null | 'serving'> {
  while (proc.exitCode === null && proc.signalCode === null) {
    if (await fetch(`${base}/health/live`).then((r) => r.ok, () => false)) return 'serving'
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  return proc.exitCode
}
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

  const started = Date.now()
  const second = await spawnService({ DATA_DIR: dataDir })
  t.teardown(() => { second.proc.kill('SIGKILL') })
  t.equal(await refusedOrServing(second.proc, second.base), 1, 'a second service on the same DATA_DIR exits 1 at once')
  t.ok(Date.now() - started < 20_000, 'without waiting for the lock')
  t.match(second.output(), new RegExp(`cannot start: DATA_DIR ${dataDir} is in use by process ${first.proc.pid} \\(auth service on 127\\.0\\.0\\.1:${first.port}, since [^,]+, on host ${hostname()}\\): .*Stop that process first`), 'naming the process that holds it, and what to do')
  t.notMatch(second.output(), /\n\s+at |ExperimentalWarning/, 'no stack trace, no warning')
  t.equal((await fetch(`${first.base}/health/live`)).status, 200, 'the first one is unharmed')
  t.equal((await fetch(`${first.base}/health/ready`)).status, 200)

  const refused = cli(dataDir, ['create-user', 'bob', '--admin'], `${GOOD_PASSWORD}\n`)
  t.equal(refused.status, 1, 'the CLI refuses instead of reporting a success it would lose')
  t.match(refused.stderr, new RegExp(`DATA_DIR ${dataDir} is in use by process ${first.proc.pid}`))
  t.notMatch(refused.stdout, /created/)

  first.proc.kill('SIGTERM')
  t.equal(await exited(first.proc), 0)
  t.notOk(existsSync(join(dataDir, 'lock.holder')), 'a clean stop takes its label away')
  const created = cli(dataDir, ['create-user', 'bob', '--admin'], `${GOOD_PASSWORD}\n`)
  t.equal(created.status, 0, created.stderr)
  const again = await spawnService({ DATA_DIR: dataDir })
  t.teardown(() => { again.proc.kill('SIGKILL') })
  await ready(again.base)
  const login = await fetch(`${again.base}/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-auth-mode': 'header' }, body: JSON.stringify({ username: 'bob', password: GOOD_PASSWORD }) })
  t.equal(login.status, 200, 'the user the CLI created is there after the restart')
  t.same((await login.json()).user.roles, ['admin', 'user'])
})

// `docker run -v auth-data:/data` twice: each container its own PID namespace, its service pid 1 in both.
const unshare = ['--pid', '--fork', '--mount-proc', '--kill-child']
const canUnshare = spawnSync('unshare', [...unshare, 'true']).status === 0
t.test('a second service in another PID namespace (a second container on the volume) refuses too', { skip: canUnshare ? false : 'unshare --pid --fork --mount-proc does not work here (needs util-linux unshare and root)' }, async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'auth-ns-'))
  const inNamespace = async () => {
    const s = await spawnService({ DATA_DIR: dataDir }, { wrapper: ['unshare', ...unshare] })
    t.teardown(() => { s.proc.kill('SIGKILL') })
    return s
  }
  const first = await inNamespace()
  await ready(first.base)
  const second = await inNamespace()
  t.equal(await refusedOrServing(second.proc, second.base), 1, 'the second container exits 1 at once, though its pid 1 is not the holder\'s pid 1')
  t.match(second.output(), new RegExp(`cannot start: DATA_DIR ${dataDir} is in use by process 1 \\(auth service on 127\\.0\\.0\\.1:${first.port}, since [^,]+, on host `), 'naming the holder as its own namespace sees it')
  const outside = await spawnService({ DATA_DIR: dataDir })
  t.teardown(() => { outside.proc.kill('SIGKILL') })
  t.equal(await refusedOrServing(outside.proc, outside.base), 1, 'a service outside any container refuses too')
  t.equal((await fetch(`${first.base}/health/live`)).status, 200, 'the first keeps serving')
  t.equal((await fetch(`${first.base}/health/ready`)).status, 200)
})

t.test('a holder killed with SIGKILL does not block the next start; an earlier version\'s lock file blocks nothing', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'auth-killed-'))
  // The file an earlier version wrote, naming a process that runs (this one).
  writeFileSync(join(dataDir, 'lock'), JSON.stringify({ pid: process.pid, what: 'an earlier version', since: new Date().toISOString() }))
  const first = await spawnService({ DATA_DIR: dataDir })
  t.teardown(() => { first.proc.kill('SIGKILL') })
  await ready(first.base)
  t.notOk(existsSync(join(dataDir, 'lock')), 'the earlier version\'s file is gone')
  first.proc.kill('SIGKILL')
  await exited(first.proc)
  t.ok(existsSync(join(dataDir, 'lock.holder')), 'the dead holder\'s label is still there')
  const next = await spawnService({ DATA_DIR: dataDir })
  t.teardown(() => { next.proc.kill('SIGKILL') })
  await ready(next.base)
  t.equal((await fetch(`${next.base}/health/live`)).status, 200, 'the next start comes up')
  t.equal(JSON.parse(readFileSync(join(dataDir, 'lock.holder'), 'utf8')).pid, next.proc.pid, 'and labels the lock as its own')
})

t.test('processes racing for a free DATA_DIR: exactly one wins, every round', async (t) => {
  const helper = join('test', 'helpers', 'take-data-dir.ts')
  for (let round = 1; round <= 5; round++) {
    const dataDir = mkdtempSync(join(tmpdir(), 'auth-race-'))
    // A stale lock file of an earlier version, that racers might each judge stale and take over.
    writeFileSync(join(dataDir, 'lock'), JSON.stringify({ pid: 999_999_999, what: 'a process that died', since: new Date().toISOString() }))
    const goAt = Date.now() + 1500
    const racers = Array.from({ length: 4 }, () => spawn(process.execPath, [helper, dataDir, String(goAt)], { stdio: ['pipe', 'pipe', 'inherit'] }))
    const reports = await Promise.all(racers.map((p) => new Promise<{ taken?: boolean, refused?: string }>((resolve, reject) => {
      let out = ''
      p.stdout!.on('data', (d) => {
        out += d
        if (out.includes('\n')) resolve(JSON.parse(out))
      })
      p.once('exit', (code) => reject(new Error(`a racer exited (${code}) without a report`)))
    })))
    t.equal(reports.filter((r) => r.taken === true).length, 1, `round ${round}: one process took it`)
    t.equal(reports.filter((r) => r.refused?.match(/is in use by process \d+ \(race helper \d+/) || r.refused?.includes('another process')).length, 3, `round ${round}: the three others were refused`)
    for (const p of racers) p.stdin!.end()
    await Promise.all(racers.map(exited))
  }
})

t.test('one process cannot take a DATA_DIR twice, under any name; once released it can', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'auth-twice-'))
  const alias = join(mkdtempSync(join(tmpdir(), 'auth-alias-')), 'link')
  symlinkSync(dataDir, alias)
  const lock = lockDataDir(dataDir, 'this test')
  t.throws(() => lockDataDir(dataDir, 'again'), { constructor: DataDirInUseError, message: new RegExp(`is in use by process ${process.pid} \\(this test, since `) }, 'held now: even this process cannot take it twice')
  t.throws(() => lockDataDir(alias, 'through a symlink'), { constructor: DataDirInUseError, message: /is in use by process / }, 'nor through another name')
  const other = spawnSync(process.execPath, [join('test', 'helpers', 'take-data-dir.ts'), dataDir], { input: '', encoding: 'utf8' })
  t.match(JSON.parse(other.stdout), { refused: new RegExp(`is in use by process ${process.pid} \\(this test`) }, 'and another process is refused, named this one')
  lock.release()
  lock.release()
  t.notOk(existsSync(join(dataDir, 'lock.holder')))
  lockDataDir(alias, 'after the release').release()
  t.pass('free again after the release')
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
