// End-to-end parts: the real service as a child process, Debian's Chromium
// driven by playwright-core, and an HTTP proxy that can lose an answer.
import { existsSync, mkdirSync, mkdtempSync } from 'node:fs'
import { createServer, request as httpRequest, type IncomingMessage } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium, type Browser } from 'playwright-core'
import { spawnService } from './servers.ts'

interface Teardown { teardown: (fn: () => unknown) => void }

export interface ServiceProcess { base: string, port: number, output: () => string, securityEvents: (event: string) => number }

/** `node src/server.ts` on embedded defaults (production cookie defaults: Secure, SameSite=Strict), stopped on teardown. */
export async function startService (t: Teardown, env: Record<string, string> = {}): Promise<ServiceProcess> {
  const service = await spawnService({ DATA_DIR: mkdtempSync(join(tmpdir(), 'auth-e2e-')), RATE_LIMIT: 'off', ...env })
  t.teardown(() => service.stop())
  await service.ready()
  const { base, port, output } = service
  const securityEvents = (event: string) => output().split('\n').filter((line) => line.includes(`"event":"${event}"`)).length
  return { base, port, output, securityEvents }
}

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'

/** Debian's Chromium, headless; the flags keep it off the network this machine does not have. */
export async function launchChromium (t: Teardown): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: install Debian's chromium package (.ci/run does) or set CHROMIUM_PATH`)
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--disable-default-apps', '--disable-extensions'
    ]
  })
  t.teardown(() => browser.close())
  return browser
}

export const SCREENSHOTS = join(process.cwd(), '.screenshots')
export function screenshotPath (name: string): string {
  mkdirSync(SCREENSHOTS, { recursive: true })
  return join(SCREENSHOTS, `${name}.png`)
}

export interface LossyProxy {
  base: string
  /** Requests seen, as "METHOD /path". */
  seen: string[]
  /** The next answer to `path` is dropped after the service has handled the request. */
  loseNext: (path: string) => void
}

/** Forwards everything to `target`; can cut the connection instead of passing an answer on. */
export async function lossyProxy (t: Teardown, target: string): Promise<LossyProxy> {
  const upstream = new URL(target)
  const toLose = new Set<string>()
  const seen: string[] = []
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname
    seen.push(`${req.method} ${path}`)
    const lose = toLose.delete(path)
    const out = httpRequest({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers }, (answer: IncomingMessage) => {
      if (lose) {
        answer.resume()
        answer.on('end', () => req.socket.destroy()) // handled upstream, lost on the way back
        return
      }
      res.writeHead(answer.statusCode ?? 502, answer.headers)
      answer.pipe(res)
    })
    out.on('error', () => { res.destroy() })
    req.pipe(out)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()) }))
  const { port } = server.address() as { port: number }
  return { base: `http://127.0.0.1:${port}`, seen, loseNext: (path) => { toLose.add(path) } }
}
