// Three service processes on one PostgreSQL database and one Redis Cluster
// (started here), and the few HTTP calls the cluster stories make.
import { generateKeyPairSync, randomBytes } from 'node:crypto'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { postgresForSuite, spawnService, startRedisCluster, type RedisCluster } from '../helpers/servers.ts'
import type { ServiceChild } from '../helpers/service-process.ts'
import { GOOD_PASSWORD, uniqueName } from '../helpers/client.ts'

interface Teardown { teardown: (fn: () => unknown) => void }

/** Where every revocation key and the channel live on a cluster (the service's default prefix). */
export const REVOCATION_SLOT_KEY = '{auth:rev}:channel'

export interface Deployment {
  cluster: RedisCluster
  instances: ServiceChild[]
}

export async function deploy (t: Teardown, env: Record<string, string> = {}): Promise<Deployment> {
  const [cluster, db] = await Promise.all([startRedisCluster(), postgresForSuite()])
  t.teardown(db.drop)
  // One signing key and one secret for all three, as a deployment must.
  const shared = {
    DATABASE_URL: db.url,
    ...cluster.env,
    JWT_PRIVATE_KEY: generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    KEY_ENCRYPTION_SECRET: randomBytes(32).toString('hex'),
    COOKIE_SECURE: 'false',
    HASH_WORKERS: '1',
    LOG_LEVEL: 'warn',
    ...env
  }
  const instances = await Promise.all([0, 1, 2].map(() => spawnService({ ...shared, DATA_DIR: mkdtempSync(join(tmpdir(), 'auth-cluster-')) })))
  for (const i of instances) t.teardown(() => i.stop())
  await Promise.all(instances.map((i) => i.ready({ timeoutMs: 60_000 })))
  return { cluster, instances }
}

export async function call (base: string, method: string, path: string, opts: { token?: string, body?: unknown, headers?: Record<string, string> } = {}): Promise<{ status: number, body: any }> {
  const headers: Record<string, string> = { 'x-auth-mode': 'header', ...opts.headers }
  if (opts.token !== undefined) headers.authorization ??= `Bearer ${opts.token}`
  if (opts.body !== undefined) headers['content-type'] = 'application/json'
  const res = await fetch(base + path, { method, headers, body: opts.body === undefined ? undefined : JSON.stringify(opts.body) })
  const text = await res.text()
  let body: unknown = text
  try { body = JSON.parse(text) } catch {}
  return { status: res.status, body }
}

export const me = async (base: string, token: string) => (await call(base, 'GET', '/auth/me', { token })).status

export async function register (base: string): Promise<string> {
  const name = uniqueName('cluster')
  const res = await call(base, 'POST', '/auth/register', { body: { username: name, password: GOOD_PASSWORD } })
  if (res.status !== 201) throw new Error(`register: ${res.status} ${JSON.stringify(res.body)}`)
  return name
}

/** A header-mode session: its access token. */
export async function login (base: string, username: string): Promise<string> {
  const res = await call(base, 'POST', '/auth/login', { body: { username, password: GOOD_PASSWORD } })
  if (res.status !== 200) throw new Error(`login: ${res.status} ${JSON.stringify(res.body)}`)
  return res.body.access_token
}

export const logout = async (base: string, token: string) => (await call(base, 'POST', '/auth/logout', { token, body: {} })).status

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
