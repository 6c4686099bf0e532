// Real PostgreSQL and Redis servers for the tests: the ones named by
// DATABASE_URL / REDIS_URL when set (a fresh database, a fresh key prefix per
// suite), otherwise throwaway servers started from the local install and
// stopped afterwards. Under CI=true a missing server fails the suite.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, chmodSync, writeFileSync } from 'node:fs'
import { tmpdir, userInfo } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { Redis } from 'ioredis'
import { freePort, spawnProcess, waitFor, type ServiceChild } from './service-process.ts'

export { freePort, waitFor }

// Inside a tap run, servers started here stop with the test process; the
// benchmark uses the same helpers without tap and stops them itself.
const t = process.env.TAP === '1' ? (await import('tap')).default : undefined

const PG_BIN = ['/usr/lib/postgresql/17/bin', '/usr/lib/postgresql/16/bin', '/usr/lib/postgresql/15/bin'].find((d) => existsSync(join(d, 'postgres')))

/** `node src/server.ts` on a free port (embedded defaults unless env says otherwise), its output collected. Not waited for. */
export function spawnService (env: Record<string, string>, opts: { wrapper?: string[] } = {}): Promise<ServiceChild> {
  return spawnProcess({ env: { DATABASE_URL: '', REDIS_URL: '', BCRYPT_COST: '4', LOG_LEVEL: 'info', ...env }, wrapper: opts.wrapper })
}

/** Polls `check` until it is true or `ms` pass; says which. */
export async function eventually (check: () => boolean | Promise<boolean>, ms = 10_000, everyMs = 10): Promise<boolean> {
  const end = Date.now() + ms
  while (Date.now() < end) {
    if (await check()) return true
    await new Promise((resolve) => setTimeout(resolve, everyMs))
  }
  return false
}

/** One command to one Redis node on a connection of its own; a node that never answers (SIGSTOP) fails after 2 s. */
async function askRedis (port: number, ...command: string[]): Promise<unknown> {
  const conn = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: 1000, commandTimeout: 2000, retryStrategy: () => null })
  conn.on('error', () => {})
  try {
    await conn.connect()
    return await conn.call(command[0], ...command.slice(1))
  } finally {
    conn.disconnect()
  }
}

export interface RedisServer {
  url: string
  /** Prefix for keys and channels, unique to this server handle. */
  prefix: string
  port: number
  stop: () => Promise<void>
  start: () => Promise<void>
  /** Freezes the server without closing a socket (SIGSTOP), and thaws it. Own servers only. */
  pause?: () => void
  resume?: () => void
}

function missing (what: string): Error {
  return new Error(`${what} is not installed and no URL was given; CI installs it in .ci/run`)
}

/** A Redis server this suite owns: it can stop and start it (outage tests). */
export async function startOwnRedis (): Promise<RedisServer> {
  if (spawnSync('redis-server', ['--version']).status !== 0) throw missing('redis-server')
  const port = await freePort()
  let proc: ChildProcess | undefined
  const handle: RedisServer = {
    url: `redis://127.0.0.1:${port}`,
    prefix: `t${randomBytes(4).toString('hex')}:`,
    port,
    async start () {
      proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' })
      await waitFor(() => redisPing(port), 10_000, 'redis-server')
    },
    pause () { proc?.kill('SIGSTOP') },
    resume () { proc?.kill('SIGCONT') },
    async stop () {
      if (proc === undefined || proc.exitCode !== null || proc.signalCode !== null) return
      proc.kill('SIGCONT') // a frozen server cannot act on SIGKILL's aftermath otherwise
      const exited = new Promise((resolve) => proc!.once('exit', resolve))
      proc.kill('SIGKILL')
      await exited
    }
  }
  await handle.start()
  t?.teardown(() => handle.stop())
  return handle
}

function redisPing (port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    import('node:net').then(({ connect }) => {
      const sock = connect(port, '127.0.0.1')
      sock.once('error', reject)
      sock.once('connect', () => sock.write('PING\r\n'))
      sock.once('data', (d) => { sock.destroy(); d.toString().startsWith('+PONG') ? resolve() : reject(new Error(d.toString())) })
    }, reject)
  })
}

/** Redis for a suite: REDIS_URL with a fresh prefix, or a server of its own. */
export async function redisForSuite (): Promise<RedisServer> {
  const url = process.env.REDIS_URL
  if (url) {
    return { url, prefix: `t${randomBytes(4).toString('hex')}:`, port: Number(new URL(url).port || 6379), stop: async () => {}, start: async () => {} }
  }
  return startOwnRedis()
}

export interface PostgresServer {
  url: string
  stop: () => Promise<void>
  start: () => Promise<void>
}

let shared: Promise<{ adminUrl: string, stop: () => Promise<void>, start: () => Promise<void> }> | undefined

// postgres refuses to run as root: the throwaway cluster runs as `postgres`.
function asPostgres (cmd: string, args: string[]): [string, string[]] {
  const runuser = ['/usr/sbin/runuser', '/sbin/runuser', '/usr/bin/runuser'].find(existsSync) ?? 'runuser'
  return userInfo().uid === 0 ? [runuser, ['-u', 'postgres', '--', cmd, ...args]] : [cmd, args]
}

/** A PostgreSQL cluster this suite owns (initdb into a temp folder, random port). */
export async function startOwnPostgres (): Promise<{ adminUrl: string, stop: () => Promise<void>, start: () => Promise<void> }> {
  if (PG_BIN === undefined) throw missing('PostgreSQL')
  const dir = mkdtempSync(join(tmpdir(), 'pg-test-'))
  chmodSync(dir, 0o777)
  const data = join(dir, 'data')
  const port = await freePort()
  const [cmd, args] = asPostgres(join(PG_BIN, 'initdb'), ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync'])
  const init = spawnSync(cmd, args, { stdio: 'pipe' })
  if (init.status !== 0) throw new Error(`initdb failed: ${init.stderr.toString()}`)
  const adminUrl = `postgresql://postgres@127.0.0.1:${port}/postgres`
  return {
    adminUrl,
    async start () {
      const opts = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200`
      const [c, a] = asPostgres(join(PG_BIN, 'pg_ctl'), ['-D', data, '-o', opts, '-l', join(dir, 'log'), '-w', 'start'])
      const run = spawnSync(c, a, { stdio: 'pipe' })
      if (run.status !== 0) throw new Error(`pg_ctl start failed: ${run.stderr.toString()}`)
      await waitFor(async () => {
        const client = new pg.Client({ connectionString: adminUrl })
        await client.connect()
        await client.end()
      }, 20_000, 'postgres')
    },
    async stop () {
      const [c, a] = asPostgres(join(PG_BIN, 'pg_ctl'), ['-D', data, '-m', 'fast', '-w', 'stop'])
      spawnSync(c, a, { stdio: 'ignore' })
    },
  }
}

/** A fresh, empty database for one suite. */
export async function postgresForSuite (): Promise<PostgresServer & { drop: () => Promise<void> }> {
  if (shared === undefined) {
    const url = process.env.DATABASE_URL
    shared = url
      ? Promise.resolve({ adminUrl: url, stop: async () => {}, start: async () => {} })
      : startOwnPostgres().then(async (s) => {
        await s.start()
        t?.teardown(() => s.stop())
        return s
      })
  }
  const server = await shared
  const name = `test_${randomBytes(6).toString('hex')}`
  const admin = new pg.Client({ connectionString: server.adminUrl })
  await admin.connect()
  await admin.query(`CREATE DATABASE ${name}`)
  await admin.end()
  const url = new URL(server.adminUrl)
  url.pathname = `/${name}`
  return {
    url: url.toString(),
    stop: server.stop,
    start: server.start,
    async drop () {
      const c = new pg.Client({ connectionString: server.adminUrl })
      await c.connect()
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => {})
      await c.end()
    }
  }
}

/** Stops the throwaway cluster, if this process started one. */
export async function stopSharedPostgres (): Promise<void> {
  if (shared === undefined || process.env.DATABASE_URL) return
  const s = await shared
  await s.stop()
}

export interface SentinelSet {
  /** REDIS_SENTINELS and REDIS_SENTINEL_NAME for the service. */
  env: { REDIS_SENTINELS: string, REDIS_SENTINEL_NAME: string }
  primaryPort: number
  /** The port of the primary the Sentinels name now. */
  currentPrimary: () => Promise<number>
  killPrimary: () => Promise<void>
  stop: () => Promise<void>
}

/** A primary, one replica and three Sentinels (quorum 2, failover after 1 s of silence), on free ports. */
export async function startSentinelSet (name = 'authprimary'): Promise<SentinelSet> {
  if (spawnSync('redis-server', ['--version']).status !== 0) throw missing('redis-server')
  const dir = mkdtempSync(join(tmpdir(), 'sentinel-'))
  const procs = new Map<number, ChildProcess>()
  const start = async (port: number, args: string[]) => {
    const proc = spawn('redis-server', args, { stdio: 'ignore' })
    procs.set(port, proc)
    await waitFor(() => redisPing(port), 10_000, `redis on ${port}`)
  }
  const primaryPort = await freePort()
  const replicaPort = await freePort()
  const base = ['--bind', '127.0.0.1', '--save', '', '--appendonly', 'no']
  await start(primaryPort, ['--port', String(primaryPort), ...base])
  await start(replicaPort, ['--port', String(replicaPort), ...base, '--replicaof', '127.0.0.1', String(primaryPort)])
  const sentinelPorts = [await freePort(), await freePort(), await freePort()]
  for (const port of sentinelPorts) {
    const conf = join(dir, `sentinel-${port}.conf`)
    // Sentinel rewrites its config file: it must be writable.
    writeFileSync(conf, [
      `port ${port}`, 'bind 127.0.0.1', 'protected-mode no', `dir ${dir}`,
      `sentinel monitor ${name} 127.0.0.1 ${primaryPort} 2`,
      `sentinel down-after-milliseconds ${name} 1000`,
      `sentinel failover-timeout ${name} 5000`,
      `sentinel parallel-syncs ${name} 1`
    ].join('\n') + '\n')
    await start(port, [conf, '--sentinel'])
  }
  const ask = askRedis
  const currentPrimary = async () => Number((await ask(sentinelPorts[0], 'SENTINEL', 'get-master-addr-by-name', name) as string[])[1])
  // Ready when the replica is in sync and every Sentinel knows the others and the replica.
  await waitFor(async () => {
    if (!String(await ask(replicaPort, 'INFO', 'replication')).includes('master_link_status:up')) throw new Error('replica not in sync')
    for (const port of sentinelPorts) {
      const fields = await ask(port, 'SENTINEL', 'master', name) as string[]
      const field = (k: string) => fields[fields.indexOf(k) + 1]
      if (field('num-other-sentinels') !== '2' || field('num-slaves') !== '1') throw new Error('the Sentinels do not know each other and the replica yet')
    }
  }, 30_000, 'sentinel set')
  const set: SentinelSet = {
    env: { REDIS_SENTINELS: sentinelPorts.map((p) => `127.0.0.1:${p}`).join(','), REDIS_SENTINEL_NAME: name },
    primaryPort,
    currentPrimary,
    async killPrimary () {
      const port = await currentPrimary()
      const proc = procs.get(port)
      if (proc === undefined) throw new Error(`no process on ${port}`)
      const exited = new Promise((resolve) => proc.once('exit', resolve))
      proc.kill('SIGKILL')
      await exited
    },
    async stop () {
      for (const proc of procs.values()) if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL')
    }
  }
  t?.teardown(() => set.stop())
  return set
}

export interface RedisCluster {
  /** REDIS_CLUSTER_NODES for the service. */
  env: { REDIS_CLUSTER_NODES: string }
  ports: number[]
  /** The port of the master that serves `key`'s slot now. */
  masterOf: (key: string) => Promise<number>
  /** Every master's port, as the cluster sees it now. */
  masters: () => Promise<number[]>
  /** SIGKILLs the node on `port`. */
  kill: (port: number) => Promise<void>
  /** Freezes the node on `port` without closing a socket (SIGSTOP), and thaws it. */
  pause: (port: number) => void
  resume: (port: number) => void
  /** Asks a live node (`redis-cli`'s arguments after the address). */
  ask: (...command: string[]) => Promise<unknown>
  /** Whether every replica of the master on `port` has all its writes (replication is asynchronous). */
  replicated: (port: number) => Promise<boolean>
  /** `redis-cli --cluster reshard`: moves `slots` slots from one master to another; resolves when it is done. */
  reshard: (from: number, to: number, slots: number) => Promise<void>
  stop: () => Promise<void>
}

/**
 * A Redis Cluster of six nodes (three masters, a replica each) on free
 * ports, joined by `redis-cli --cluster create`: a replica takes over 2 s
 * after its master stops answering (cluster-node-timeout).
 */
export async function startRedisCluster (): Promise<RedisCluster> {
  for (const bin of ['redis-server', 'redis-cli']) if (spawnSync(bin, ['--version']).status !== 0) throw missing(bin)
  const dir = mkdtempSync(join(tmpdir(), 'redis-cluster-'))
  const procs = new Map<number, ChildProcess>()
  const ports: number[] = []
  for (let i = 0; i < 6; i++) ports.push(await freePort())
  await Promise.all(ports.map(async (port) => {
    const proc = spawn('redis-server', [
      '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
      '--cluster-enabled', 'yes', '--cluster-config-file', join(dir, `nodes-${port}.conf`), '--cluster-node-timeout', '2000',
      '--dir', dir
    ], { stdio: 'ignore' })
    procs.set(port, proc)
    await waitFor(() => redisPing(port), 10_000, `redis on ${port}`)
  }))
  const create = spawnSync('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '1', '--cluster-yes'], { encoding: 'utf8', timeout: 60_000 })
  if (create.status !== 0) throw new Error(`redis-cli --cluster create failed: ${create.stdout}${create.stderr}`)
  // A paused node (SIGSTOP) accepts connections and never answers: asked last, and never waited on for long.
  const paused = new Set<number>()
  const alive = (port: number) => { const p = procs.get(port); return p !== undefined && p.exitCode === null && p.signalCode === null }
  const askPort = askRedis
  const ask = async (...command: string[]): Promise<unknown> => {
    let last: unknown
    for (const port of ports.filter((p) => alive(p) && !paused.has(p))) {
      try { return await askPort(port, ...command) } catch (err) { last = err }
    }
    throw last
  }
  // Ready when every node says the cluster is ok and sees three replicas,
  // and every replica is in sync (one that never was cannot take over).
  await waitFor(async () => {
    for (const port of ports) {
      const info = String(await askPort(port, 'CLUSTER', 'INFO'))
      if (!info.includes('cluster_state:ok') || !info.includes('cluster_known_nodes:6')) throw new Error(`node ${port}: ${info.split('\n')[0]}`)
      const replicas = String(await askPort(port, 'CLUSTER', 'NODES')).split('\n').filter((line) => line.split(' ')[2]?.split(',').includes('slave')).length
      if (replicas !== 3) throw new Error(`node ${port} sees ${replicas} replicas`)
      const replication = String(await askPort(port, 'INFO', 'replication'))
      if (replication.includes('role:slave') && !replication.includes('master_link_status:up')) throw new Error(`replica ${port} is not in sync`)
    }
  }, 30_000, 'redis cluster')
  const slots = async () => await ask('CLUSTER', 'SLOTS') as Array<[number, number, [string, number]]>
  const cluster: RedisCluster = {
    env: { REDIS_CLUSTER_NODES: ports.slice(0, 3).map((p) => `127.0.0.1:${p}`).join(',') },
    ports,
    async masterOf (key) {
      const slot = Number(await ask('CLUSTER', 'KEYSLOT', key))
      const range = (await slots()).find(([from, to]) => slot >= from && slot <= to)
      if (range === undefined) throw new Error(`no master serves slot ${slot}`)
      return Number(range[2][1])
    },
    async masters () {
      return [...new Set((await slots()).map((r) => Number(r[2][1])))]
    },
    async kill (port) {
      const proc = procs.get(port)
      if (proc === undefined || !alive(port)) throw new Error(`no live node on ${port}`)
      const exited = new Promise((resolve) => proc.once('exit', resolve))
      proc.kill('SIGKILL')
      await exited
    },
    pause (port) { paused.add(port); procs.get(port)?.kill('SIGSTOP') },
    resume (port) { paused.delete(port); procs.get(port)?.kill('SIGCONT') },
    ask,
    async replicated (port) {
      const info = String(await askPort(port, 'INFO', 'replication'))
      const offset = Number(/master_repl_offset:(\d+)/.exec(info)?.[1])
      const replicas = [...info.matchAll(/^slave\d+:.*offset=(\d+)/gm)].map((m) => Number(m[1]))
      return replicas.length > 0 && replicas.every((o) => o >= offset)
    },
    async reshard (from, to, count) {
      const id = async (port: number) => String(await askPort(port, 'CLUSTER', 'MYID'))
      const args = ['--cluster', 'reshard', `127.0.0.1:${to}`, '--cluster-from', await id(from), '--cluster-to', await id(to), '--cluster-slots', String(count), '--cluster-yes', '--cluster-pipeline', '10']
      await new Promise<void>((resolve, reject) => {
        const proc = spawn('redis-cli', args, { stdio: ['ignore', 'pipe', 'pipe'] })
        let out = ''
        proc.stdout.on('data', (d) => { out += d })
        proc.stderr.on('data', (d) => { out += d })
        proc.once('exit', (code) => code === 0 ? resolve() : reject(new Error(`redis-cli --cluster reshard failed (${code}): ${out.slice(-2000)}`)))
      })
    },
    async stop () {
      for (const proc of procs.values()) if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL')
    }
  }
  t?.teardown(() => cluster.stop())
  return cluster
}
