// No Docker engine runs here, so this checks what can be checked: the image's
// shape, and that its start command works from a production-only install laid
// out as the Dockerfile lays it out.
import t from 'tap'
import { spawn, spawnSync } from 'node:child_process'
import { cpSync, existsSync, mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort, waitFor } from './helpers/servers.ts'
import { productionCommand } from '../bench/service.ts'

const dockerfile = readFileSync('Dockerfile', 'utf8')
const finalStage = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '))

t.test('the image is built as the README says', async (t) => {
  t.match(finalStage, /^\nFROM node:24-slim$/m, 'Node 24 slim')
  t.match(finalStage, /^USER node$/m, 'runs as a non-root user')
  t.match(finalStage, /HOST=0\.0\.0\.0/)
  t.match(finalStage, /^HEALTHCHECK /m)
  t.match(dockerfile, /npm ci --omit=dev/, 'production dependencies only')
  t.match(readFileSync('.dockerignore', 'utf8'), /^node_modules$/m)
})

t.test('the image runs the service as npm start does (and as npm run bench measures it)', async (t) => {
  const { env, nodeFlags, script } = productionCommand()
  const cmd = JSON.parse(/^CMD (\[.*\])$/m.exec(finalStage)![1]) as string[]
  t.same(cmd, ['node', ...nodeFlags, script], 'the same Node flags and script')
  t.ok(nodeFlags.length > 0, 'the memory flags are there')
  for (const [k, v] of Object.entries(env)) t.match(finalStage, new RegExp(`\\b${k}=${v}\\b`), `ENV ${k}=${v}`)
})

t.test('the start command works from a production-only install', async (t) => {
  const cmd = JSON.parse(/^CMD (\[.*\])$/m.exec(finalStage)![1]) as string[]
  const app = mkdtempSync(join(tmpdir(), 'image-'))
  // The build stage's output (dist/), made here as that stage makes it.
  const build = spawnSync('npm', ['run', '-s', 'build'], { encoding: 'utf8' })
  t.equal(build.status, 0, (build.stdout + build.stderr).slice(-500))
  const template = spawnSync(process.execPath, ['dist/db/pglite-template.js'], { encoding: 'utf8' })
  t.equal(template.status, 0, (template.stdout + template.stderr).slice(-500))
  // The runtime stage's COPY lines, in order; node_modules is the install below.
  for (const [, src] of finalStage.matchAll(/^COPY (?:--from=\w+ )?(\S+) \S+$/gm)) {
    if (src === '/app/node_modules') continue
    const path = src.replace(/^\/app\//, '')
    cpSync(path, join(app, path), { recursive: true })
  }
  t.notOk(existsSync(join(app, 'src')), 'the image carries compiled JavaScript, not the TypeScript sources')
  cpSync('package-lock.json', join(app, 'package-lock.json'))
  const install = spawnSync('npm', ['ci', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline'], { cwd: app, encoding: 'utf8' })
  t.equal(install.status, 0, install.stderr.slice(-500))
  const port = await freePort()
  const env = { PATH: process.env.PATH, NODE_ENV: 'production', HOST: '127.0.0.1', PORT: String(port), DATA_DIR: join(app, 'data-dir'), KEY_ENCRYPTION_SECRET: 'Zq81vN0aPq2LmR7tY5wX3cB6kPq9wE4r', BCRYPT_COST: '4', LOG_LEVEL: 'warn' }
  const proc = spawn(cmd[0] === 'node' ? process.execPath : cmd[0], cmd.slice(1), { cwd: app, env, stdio: 'ignore' })
  t.teardown(() => { proc.kill('SIGKILL') })
  await waitFor(async () => {
    const r = await fetch(`http://127.0.0.1:${port}/health/ready`)
    if (r.status !== 200) throw new Error(String(r.status))
  }, 60_000, 'the image start command')
  t.pass('the service answers /health/ready 200 with no dev dependency installed')
  const consolePage = await fetch(`http://127.0.0.1:${port}/admin/console/`)
  t.equal(consolePage.status, 200, 'the admin console\'s files are in the image')
  t.equal((await fetch(`http://127.0.0.1:${port}/admin/console/modules/admin-console/app.ts`)).status, 200, 'and its modules (the client library too)')
  t.equal((await fetch(`http://127.0.0.1:${port}/admin/console/modules/client/index.ts`)).status, 200)

  // The admin CLI, as the README runs it in a container, on the same data
  // (embedded PostgreSQL is single-process: the service stops first).
  const exited = new Promise((resolve) => proc.once('exit', resolve))
  proc.kill('SIGTERM')
  await exited
  const admin = spawnSync(process.execPath, ['dist/cli/admin.js', 'create-user', 'ops', '--admin'], { cwd: app, env: { ...env, AUTH_CLI_PASSWORD: 'an operator passphrase' }, encoding: 'utf8' })
  t.equal(admin.status, 0, `node dist/cli/admin.js exits 0: ${(admin.stdout + admin.stderr).trim().slice(-300)}`)
  t.match(admin.stdout, /^created ops .* with roles admin, user$/m, 'the admin CLI works in the image')
})
