// The service (or another Node script: the benchmark's bare app) as a child
// process on a free port: the one starter behind the tests' spawnService and
// startService and the benchmark's startService, which differ only in the
// environment and flags they give it.
import { spawn, type ChildProcess } from 'node:child_process'
import { createServer } from 'node:net'

export function freePort (): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.unref()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
}

/** Retries `check` every 50 ms until it passes, `ms` pass, or `abandon` gives a reason to stop. */
export async function waitFor (check: () => Promise<unknown>, ms = 15_000, what = 'server', abandon?: () => Error | undefined): Promise<void> {
  const end = Date.now() + ms
  let last: unknown
  while (Date.now() < end) {
    try { await check(); return } catch (err) { last = err }
    const reason = abandon?.()
    if (reason !== undefined) throw reason
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  throw new Error(`${what} did not come up in ${ms} ms: ${String(last)}`)
}

export interface ProcessOptions {
  /** On top of this process's environment and PORT (the free port found here). */
  env: Record<string, string>
  /** What node runs (default src/server.ts). */
  script?: string
  nodeFlags?: string[]
  /** A command that runs node (taskset, valgrind): node's path and arguments follow it. */
  wrapper?: string[]
  /** 'collect' (default): stdout and stderr kept for output(); otherwise stdout dropped and stderr to this process's ('inherit') or to a file descriptor. */
  output?: 'collect' | 'inherit' | number
}

export interface ServiceChild {
  proc: ChildProcess
  base: string
  port: number
  /** What it wrote so far (with output 'collect'; empty otherwise). */
  output: () => string
  /** Until `path` answers 200; fails at once if the process exits first. */
  ready: (opts?: { path?: string, timeoutMs?: number }) => Promise<void>
  /** SIGTERM, then its exit code (at once if it has exited). */
  stop: () => Promise<number | null>
}

/** The process started on a free port, its output handled as asked. Not waited for. */
export async function spawnProcess (opts: ProcessOptions): Promise<ServiceChild> {
  const port = await freePort()
  const script = opts.script ?? 'src/server.ts'
  const args = [...(opts.nodeFlags ?? []), script]
  const wrapper = opts.wrapper ?? []
  const [cmd, argv] = wrapper.length > 0 ? [wrapper[0], [...wrapper.slice(1), process.execPath, ...args]] : [process.execPath, args]
  const collect = (opts.output ?? 'collect') === 'collect'
  const proc = spawn(cmd, argv, {
    env: { ...process.env, PORT: String(port), ...opts.env },
    stdio: collect ? ['ignore', 'pipe', 'pipe'] : ['ignore', 'ignore', opts.output as 'inherit' | number]
  })
  let output = ''
  proc.stdout?.on('data', (d) => { output += d })
  proc.stderr?.on('data', (d) => { output += d })
  const base = `http://127.0.0.1:${port}`
  const exited = () => proc.exitCode !== null || proc.signalCode !== null
  return {
    proc,
    base,
    port,
    output: () => output,
    async ready ({ path = '/health/ready', timeoutMs = 60_000 } = {}) {
      // A process that dies while starting is said at once, not after the timeout.
      const died = () => exited() ? new Error(`${script} exited (${proc.exitCode ?? proc.signalCode}) before it was ready${collect ? `:\n${output.slice(-2000)}` : ''}`) : undefined
      await waitFor(async () => { const r = await fetch(base + path); if (r.status !== 200) throw new Error(String(r.status)) }, timeoutMs, script, died)
    },
    stop: () => new Promise((resolve) => {
      if (exited()) { resolve(proc.exitCode); return }
      proc.once('exit', (code) => resolve(code))
      proc.kill('SIGTERM')
    })
  }
}

/** spawnProcess, then ready: the process answering on `readyPath` (default /health/ready). */
export async function startProcess (opts: ProcessOptions & { readyPath?: string, readyTimeoutMs?: number }): Promise<ServiceChild> {
  const child = await spawnProcess(opts)
  try {
    await child.ready({ path: opts.readyPath, timeoutMs: opts.readyTimeoutMs })
  } catch (err) {
    child.proc.kill('SIGKILL') // one that never came up is not left behind (nor waited for: it may not answer SIGTERM)
    throw err
  }
  return child
}
