// The service on embedded defaults, started as `npm start` starts it (its Node
// flags and environment, the compiled JavaScript: built here into a folder of
// its own, beside links to what it reads at run time), on a fresh
// DATA_DIR: its peak resident memory (VmHWM, read from outside) stays under
// 256 MB through the first start, a sign-up, sign-in and refresh, and a
// restart on the same data. It was 1.1 GB: PGlite's initdb in the process
// (now a template copied in: src/db/pglite-template.ts) and the optimizing
// WebAssembly tier's compile-time memory (now --liftoff-only in npm start).
import t from 'tap'
import { spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { peakMbOf, productionCommand } from '../../bench/service.ts'
import { freePort, waitFor } from '../helpers/servers.ts'
import { GOOD_PASSWORD } from '../helpers/client.ts'

const TARGET_MB = 256

/** npm start's build step, into a folder of its own (another test may be building dist/ right now). */
function buildApp (): string {
  const root = mkdtempSync(join(tmpdir(), 'auth-peak-build-'))
  const build = spawnSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.build.json', '--outDir', join(root, 'dist')], { encoding: 'utf8' })
  if (build.status !== 0) throw new Error(`build failed: ${(build.stdout + build.stderr).slice(-500)}`)
  for (const path of ['node_modules', 'prisma', 'data', 'package.json']) symlinkSync(join(process.cwd(), path), join(root, path))
  return root
}

async function startOnce (root: string, dataDir: string, work: (base: string) => Promise<void>): Promise<number> {
  const { env, nodeFlags, script } = productionCommand()
  const port = await freePort()
  const proc = spawn(process.execPath, [...nodeFlags, script], {
    cwd: root,
    env: { ...process.env, ...env, DATABASE_URL: '', REDIS_URL: '', DATA_DIR: dataDir, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'warn', RATE_LIMIT: 'off' },
    stdio: ['ignore', 'ignore', 'inherit']
  })
  const exited = new Promise((resolve) => proc.once('exit', resolve))
  try {
    const base = `http://127.0.0.1:${port}`
    await waitFor(async () => { const r = await fetch(`${base}/health/ready`); if (r.status !== 200) throw new Error(String(r.status)) }, 120_000, 'service')
    await work(base)
    return peakMbOf(proc.pid!)
  } finally {
    proc.kill('SIGTERM')
    await exited
  }
}

const post = (base: string, path: string, body: unknown) => fetch(base + path, { method: 'POST', headers: { 'content-type': 'application/json', 'x-auth-mode': 'header' }, body: JSON.stringify(body) })

t.test(`embedded defaults: peak resident memory under ${TARGET_MB} MB, first start included`, async (t) => {
  const root = buildApp()
  const dataDir = mkdtempSync(join(tmpdir(), 'auth-peak-'))
  const user = { username: 'peak_user', password: GOOD_PASSWORD }
  // No template yet in this build's folder: the first start has a child process make it.
  const first = await startOnce(root, dataDir, async (base) => {
    t.equal((await post(base, '/auth/register', user)).status, 201)
    const login = await (await post(base, '/auth/login', user)).json()
    t.equal((await fetch(`${base}/auth/me`, { headers: { authorization: `Bearer ${login.access_token}` } })).status, 200)
    t.equal((await post(base, '/auth/refresh', { refresh_token: login.refresh_token })).status, 200)
  })
  t.ok(first < TARGET_MB, `first start on a fresh DATA_DIR: peak ${first.toFixed(0)} MB`)
  const again = await startOnce(root, dataDir, async (base) => {
    t.equal((await post(base, '/auth/login', user)).status, 200, 'the data is there after a restart')
  })
  t.ok(again < TARGET_MB, `restart on existing data: peak ${again.toFixed(0)} MB`)
})
