// The service as the benchmark scripts start it: npm start's command (built
// once), production mode, one JWT secret per script run, rate limits off,
// logs at warn; ready when /health/ready says so. The process itself is
// test/helpers/service-process.ts's, as the tests'.
import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { startProcess, type ServiceChild } from '../test/helpers/service-process.ts'

export type Service = ServiceChild

const SECRET = randomBytes(32).toString('base64url')

/**
 * The command of `npm start` (as the Dockerfile's CMD and ENV), split into its
 * environment and Node flags, so that what is measured is what runs.
 */
export function productionCommand (): { env: Record<string, string>, nodeFlags: string[], script: string } {
  const words = (JSON.parse(readFileSync('package.json', 'utf8')).scripts.start as string).split(/\s+/)
  const env: Record<string, string> = {}
  while (/^[A-Z_]+=/.test(words[0])) { const [k, v] = words.shift()!.split('='); env[k] = v }
  if (words[0] === 'exec') words.shift() // node replaces npm's shell, so signals reach it
  if (words.shift() !== 'node') throw new Error('npm start is expected to run node')
  return { env, nodeFlags: words.filter((w) => w.startsWith('--')), script: words.find((w) => !w.startsWith('--'))! }
}

let built = false

/** npm start's prestart step: compiles src/ into dist/ and makes the embedded database's template, once per script run. */
export function buildOnce (): void {
  if (built) return
  const build = spawnSync('npm', ['run', '-s', 'build'], { stdio: 'inherit' })
  if (build.status !== 0) throw new Error('npm run build failed')
  const template = spawnSync(process.execPath, ['dist/db/pglite-template.js'], { stdio: 'inherit' })
  if (template.status !== 0) throw new Error('making the embedded database template failed')
  built = true
}

/** The service (or `script`) as npm start runs it, on a free port, ready. */
export async function startService (env: Record<string, string>, opts: {
  nodeFlags?: string[]
  pinToCpu0?: boolean
  script?: string
  readyPath?: string
  /** A command that runs node (valgrind, say): node's path and arguments follow it. */
  wrapper?: string[]
  readyTimeoutMs?: number
  /** Where the process's stderr goes (a file descriptor); this process's own by default. */
  stderr?: number
} = {}): Promise<Service> {
  buildOnce()
  const production = productionCommand()
  return startProcess({
    env: { ...production.env, NODE_ENV: 'production', JWT_SECRET: SECRET, RATE_LIMIT: 'off', LOG_LEVEL: 'warn', HOST: '127.0.0.1', ...env },
    script: opts.script ?? production.script,
    nodeFlags: [...production.nodeFlags, ...(opts.nodeFlags ?? [])],
    wrapper: [...(opts.pinToCpu0 === true ? ['taskset', '-c', '0'] : []), ...(opts.wrapper ?? [])],
    output: opts.stderr ?? 'inherit',
    readyPath: opts.readyPath,
    readyTimeoutMs: opts.readyTimeoutMs
  })
}

/** Peak resident memory of a process so far (VmHWM), in MB. */
export const peakMbOf = (pid: number) => Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024

/** Resident memory of a process, in MB. */
export const rssMb = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024

/** CPU time (user + system) a process has used so far, in ms (Linux: /proc/<pid>/stat, in clock ticks of 10 ms). */
export function cpuMs (pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) * 10
}
