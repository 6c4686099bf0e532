// One command for the SPA example: the service (embedded defaults, CORS open to
// the SPA's origin only) and the SPA on another port.
//   npm run example:spa      then open http://localhost:5173
// Both on localhost (another port each: one site, so the cookies stay
// first-party): a passkey's relying party is a host name, never an address.
// Sign in with a provider: set OIDC_PROVIDERS and its OIDC_<NAME>_* variables
// (docs/api.md); they pass through, PUBLIC_URL defaults to the service's URL
// and the SPA's origin is where a sign-in may return (CORS_ORIGINS).
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { startSpa } from './server.ts'

const host = '127.0.0.1'
const authPort = Number(process.env.AUTH_PORT ?? 3000)
const spaPort = Number(process.env.SPA_PORT ?? 5173)
const authBaseUrl = `http://localhost:${authPort}`
const spaOrigin = `http://localhost:${spaPort}`

const service = spawn(process.execPath, [fileURLToPath(new URL('../../src/server.ts', import.meta.url))], {
  env: {
    ...process.env,
    PORT: String(authPort),
    HOST: host,
    CORS_ORIGINS: spaOrigin,
    WEBAUTHN_ORIGINS: spaOrigin,
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
    // The providers' redirect URIs are PUBLIC_URL/auth/oidc/<name>/callback.
    ...(process.env.OIDC_PROVIDERS !== undefined && process.env.PUBLIC_URL === undefined ? { PUBLIC_URL: authBaseUrl } : {})
  },
  stdio: 'inherit'
})
service.once('exit', (code) => {
  console.error(`the service exited (${code})`)
  process.exit(code ?? 1)
})

async function ready (): Promise<void> {
  for (let i = 0; i < 600; i++) {
    try {
      if ((await fetch(`http://${host}:${authPort}/health/ready`)).ok) return
    } catch {}
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  throw new Error('the service did not become ready')
}

await ready()
const spa = await startSpa({ authBaseUrl, port: spaPort, host })
console.log(`auth service: ${authBaseUrl} (CORS_ORIGINS=${spaOrigin})`)
console.log(`SPA example:  ${spaOrigin}`)
for (const name of (process.env.OIDC_PROVIDERS ?? '').split(',').map((n) => n.trim()).filter(Boolean)) {
  console.log(`provider ${name}: register the redirect URI ${process.env.PUBLIC_URL ?? authBaseUrl}/auth/oidc/${name}/callback`)
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, async () => {
    service.removeAllListeners('exit')
    service.kill('SIGTERM')
    await spa.close()
    process.exit(0)
  })
}
