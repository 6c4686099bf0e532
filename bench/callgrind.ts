// Figure 0 counted, not timed: instructions per request of the bare Fastify
// app, the service's /health/live and its /auth/me, under valgrind's
// callgrind. A count does not move with what else the machine is doing, so it
// tells apart what a wall clock on a shared VM cannot.
//
//   node bench/callgrind.ts            (service on throwaway PostgreSQL + Redis: starts in a minute under valgrind)
//   CALLGRIND_BACKEND=embedded node bench/callgrind.ts   (PGlite in the process: 5-10 minutes to start)
//
// Each case: the process started under callgrind with the Node flags of
// `npm start`, warmed (CALLGRIND_WARM requests over 4 keep-alive
// connections), counters zeroed, CALLGRIND_REQUESTS more requests, counters
// dumped. The dump is divided by the requests it saw (the calls of Node's
// `Parser::on_headers_complete`), and V8's compilers are left out (warm-up,
// on background threads). Prints the parts per request and each case's
// costliest functions. Needs valgrind (Debian: apt-get install valgrind).
import { spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, openSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Pool } from 'undici'
import { postgresForSuite, startOwnRedis, stopSharedPostgres } from '../test/helpers/servers.ts'
import { buildOnce, productionCommand, startService } from './service.ts'

const WARM = Number(process.env.CALLGRIND_WARM ?? 15_000)
const REQUESTS = Number(process.env.CALLGRIND_REQUESTS ?? 3_000)
const embedded = process.env.CALLGRIND_BACKEND === 'embedded'

if (spawnSync('valgrind', ['--version']).status !== 0) {
  console.error('valgrind is not installed (Debian: apt-get install valgrind)')
  process.exit(2)
}

/** Where an instruction was spent, by the function's name. The first match wins. */
export const PARTS: Array<[string, RegExp]> = [
  ['compiler (left out)', /v8::internal::(compiler|maglev|turboshaft|baseline)::|v8::internal::(Compiler|OptimizingCompileDispatcher|Parser|PreParser|Scanner|BytecodeGenerator|interpreter::BytecodeGenerator|AstValueFactory)|v8::internal::wasm::|Builtins_Compile/],
  ['garbage collection (and write barriers)', /IterateObjectCache|RootScavengeVisitor|ScavengeVisitor|Builtins_RecordWrite|v8::internal::(Heap|Scavenger|Scaveng|MarkCompact|MarkingVisitor|MarkingWorklist|Sweeper|ConcurrentMarking|Evacuat|MemoryAllocator|PagedSpace|NewSpace|SemiSpace|LargeObjectSpace|MainMarking|YoungGeneration|ArrayBufferSweeper|GCTracer|MinorMarkSweep|RememberedSet|SlotSet|MutablePageMetadata|MemoryChunk)|cppgc::|heap::base::/],
  ['HTTP parser (llhttp)', /llhttp|http_parser/i],
  ['strings (header names and values, hashing, concatenation)', /String|Utf8|UTF8|Latin1|simdutf|Hasher|StringHasher|Builtins_(StringAdd|StringCharCodeAt|StringEqual|StringPrototype|StringIndexOf|StringFromCharCode|ToLowerCase|StringToLowerCase)/],
  ['property access, inline caches, object shapes (V8 runtime)', /v8::internal::(Runtime_|[A-Za-z]*IC\b|[A-Za-z]*IC::|LookupIterator|Map::|JSObject::|JSReceiver::|Object::|TransitionsAccessor|TransitionArray|DescriptorArray|PropertyKey|Factory|FeedbackNexus|FeedbackVector|MapUpdater|PropertyCell|Dictionary|HashTable|FieldType|DependentCode|JSFunction::|Isolate::|HandleScope|LocalHandle)|Builtins_(Keyed|Load|Store|Define|CallIC|Get|Set|HasProperty|ObjectAssign|CloneObjectIC|CreateShallow|FastNewObject)/],
  ['libuv, system call wrappers', /^uv_|uv__|epoll|__libc|^(write|read|writev|recv|send|__GI_)|syscall/],
  ['JIT-compiled JavaScript (Node, Fastify, the service)', /^0x[0-9a-f]+$/],
  ['other (V8 builtins, libc, Node)', /./]
]

interface Count { requests: number, byFunction: Map<string, number> }

/** Self cost of every function in a callgrind dump (one event: Ir), and the calls of Parser::on_headers_complete. */
export function readDump (text: string): Count {
  const names = new Map<string, string>()
  const named = (ref: string) => {
    const m = /^\((\d+)\)(?: (.*))?$/.exec(ref)
    if (m === null) return ref
    if (m[2] !== undefined) names.set(m[1], m[2])
    return names.get(m[1]) ?? ref
  }
  const byFunction = new Map<string, number>()
  let fn = ''
  let callee = ''
  let afterCalls = false
  let requests = 0
  for (const line of text.split('\n')) {
    if (line.startsWith('fn=')) { fn = named(line.slice(3)); continue }
    if (line.startsWith('cfn=')) { callee = named(line.slice(4)); continue }
    if (line.startsWith('calls=')) {
      afterCalls = true
      if (callee.startsWith('node::http_parser::Parser::on_headers_complete(')) requests += Number(line.slice(6).split(' ')[0])
      continue
    }
    if (!/^[-+*0-9]/.test(line)) continue
    // A cost line: "<position> <Ir>". After calls= it is the call's inclusive cost, not this function's own.
    const parts = line.trim().split(/\s+/)
    const ir = Number(parts[parts.length - 1])
    if (afterCalls) { afterCalls = false; continue }
    if (parts.length < 2 || !Number.isFinite(ir)) continue
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + ir)
  }
  return { requests, byFunction }
}

export function partOf (name: string): string {
  return PARTS.find(([, re]) => re.test(name))![0]
}

async function drive (base: string, path: string, headers: Record<string, string>, count: number, until?: Promise<unknown>): Promise<number> {
  const pool = new Pool(base, { connections: 4, pipelining: 1 })
  let sent = 0
  let done = false
  until?.then(() => { done = true }, () => { done = true })
  const worker = async () => {
    while (until !== undefined ? !done : sent < count) {
      sent++
      const res = await pool.request({ method: 'GET', path, headers })
      await res.body.text()
      if (res.statusCode !== 200) throw new Error(`${path} answered ${res.statusCode}`)
    }
  }
  await Promise.all([worker(), worker(), worker(), worker()])
  await pool.close()
  return sent
}

/** Runs callgrind_control while requests keep the process busy (callgrind reads its commands only while it runs). */
async function control (pid: number, args: string[], base: string, path: string, headers: Record<string, string>): Promise<void> {
  const ctl = new Promise<void>((resolve, reject) => {
    // vgdb finds the process by a file named after USER and HOST as the process
    // sees them: HOST is the service's listen address here.
    const c = spawn('callgrind_control', [...args, String(pid)], { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, HOST: '127.0.0.1' } })
    c.once('exit', (code) => code === 0 ? resolve() : reject(new Error(`callgrind_control ${args.join(' ')} exited ${code}`)))
  })
  await drive(base, path, headers, 0, ctl)
  await ctl
}

interface Phase { label: string, path: string, headers?: (base: string) => Promise<Record<string, string>> }

/** One process under callgrind: every phase warmed, then each counted in turn (its own zero and dump). */
async function measure (label: string, opts: { script: string, env: Record<string, string>, readyPath: string, phases: Phase[] }): Promise<Array<[string, Count]>> {
  const dir = mkdtempSync(join(tmpdir(), `callgrind-${label}-`))
  const started = Date.now()
  const service = await startService(opts.env, {
    script: opts.script,
    readyPath: opts.readyPath,
    wrapper: ['valgrind', '--tool=callgrind', '--smc-check=all-non-file', `--callgrind-out-file=${join(dir, 'cg.out')}`],
    readyTimeoutMs: 20 * 60_000,
    stderr: openSync(join(dir, 'stderr.log'), 'w')
  })
  const { base, proc } = service
  const out: Array<[string, Count]> = []
  try {
    console.error(`${label}: ready under valgrind in ${((Date.now() - started) / 1000).toFixed(0)} s (dumps in ${dir}); warming with ${WARM} requests per case`)
    const headers = await Promise.all(opts.phases.map((phase) => phase.headers?.(base) ?? {}))
    for (const [i, phase] of opts.phases.entries()) await drive(base, phase.path, headers[i], WARM)
    for (const [i, phase] of opts.phases.entries()) {
      await control(proc.pid!, ['-z'], base, phase.path, headers[i])
      await drive(base, phase.path, headers[i], REQUESTS)
      await control(proc.pid!, ['-d', `case${i}`], base, phase.path, headers[i])
      // Dumps are numbered from 1 in the order they are made.
      const count = readDump(readFileSync(join(dir, `cg.out.${i + 1}`), 'utf8'))
      console.error(`${phase.label}: ${count.requests} requests in the dump`)
      out.push([phase.label, count])
    }
  } finally {
    await service.stop()
  }
  return out
}

const LABELS = ['bare app', 'bare app, sent the same Authorization header', '/health/live', '/auth/me']

async function run (): Promise<Array<[string, Count]>> {
  buildOnce()
  const cleanups: Array<() => Promise<void>> = []
  const backend: Record<string, string> = { DATA_DIR: mkdtempSync(join(tmpdir(), 'callgrind-data-')), JWT_SECRET: 'callgrind-0123456789abcdef0123456789abcdef', BCRYPT_COST: '4' }
  if (!embedded) {
    const pg = await postgresForSuite()
    const redis = await startOwnRedis()
    cleanups.push(pg.drop, stopSharedPostgres, redis.stop)
    backend.DATABASE_URL = pg.url
    backend.REDIS_URL = redis.url
  }
  const user = { username: 'callgrind_user', password: 'a counting passphrase' }
  let gotToken: (headers: Record<string, string>) => void
  const sameHeaders = new Promise<Record<string, string>>((resolve) => { gotToken = resolve })
  const bearer = async (base: string) => {
    const post = (path: string) => fetch(base + path, { method: 'POST', headers: { 'content-type': 'application/json', 'x-auth-mode': 'header' }, body: JSON.stringify(user) })
    await post('/auth/register')
    const { access_token: token } = await (await post('/auth/login')).json() as { access_token: string }
    gotToken({ authorization: `Bearer ${token}` })
    return { authorization: `Bearer ${token}` }
  }
  const script = productionCommand().script
  try {
    // The two processes side by side (one per core): a count does not depend on
    // what else runs. The bare app starts once the service is up: two starts
    // under valgrind at once can pass Fastify's 60 s plugin timeout.
    const [bare, service] = await Promise.all([
      sameHeaders.then(() => measure('bare', {
        script: 'bench/bare.ts',
        env: {},
        readyPath: '/',
        phases: [
          { label: LABELS[0], path: '/' },
          // The request /auth/me gets, to the bare app (which ignores the header): its parser's share.
          { label: LABELS[1], path: '/', headers: () => sameHeaders }
        ]
      })),
      measure('service', {
        script,
        env: backend,
        readyPath: '/health/ready',
        phases: [{ label: LABELS[2], path: '/health/live' }, { label: LABELS[3], path: '/auth/me', headers: bearer }]
      })
    ])
    return [...bare, ...service]
  } finally {
    for (const c of cleanups) await c()
  }
}

// CALLGRIND_FROM=<bare dir>,<service dir>: the tables again from a run's
// saved dumps (each dir holds cg.out.1 and cg.out.2), without running.
const from = process.env.CALLGRIND_FROM?.split(',')
const cases: Array<[string, Count]> = from !== undefined
  ? from.flatMap((dir) => [1, 2].map((n) => join(dir, `cg.out.${n}`))).map((file, i) => [LABELS[i], readDump(readFileSync(file, 'utf8'))])
  : await run()

// Per request, by part; then each case's costliest functions.
const k = (x: number) => `${(x / 1000).toFixed(1)}k`
const perPart = cases.map(([, c]) => {
  const parts = new Map<string, number>()
  for (const [name, ir] of c.byFunction) parts.set(partOf(name), (parts.get(partOf(name)) ?? 0) + ir / c.requests)
  return parts
})
const counted = perPart.map((parts) => [...parts].filter(([part]) => part !== PARTS[0][0]).reduce((n, [, v]) => n + v, 0))
console.log(`instructions per request (callgrind; ${embedded ? 'embedded defaults' : 'PostgreSQL + Redis'}; ${REQUESTS} requests after ${WARM})`)
console.log(`| part | ${cases.map(([label]) => label).join(' | ')} |`)
console.log(`| --- |${cases.map(() => ' --- |').join('')}`)
for (const [part] of PARTS) console.log(`| ${part} | ${perPart.map((p) => k(p.get(part) ?? 0)).join(' | ')} |`)
// Ratios as figure 0 takes them: /health/live against the bare app, /auth/me against the bare app sent the same header.
const baseline = [0, 1, 0, 1]
console.log(`| total, less the compilers | ${counted.map((n, i) => i < 2 ? k(n) : `${k(n)} (${(counted[baseline[i]] / n).toFixed(2)})`).join(' | ')} |`)
for (const [label, c] of cases) {
  console.log(`\n${label}: costliest functions, instructions per request`)
  const top = [...c.byFunction].sort((a, b) => b[1] - a[1]).slice(0, 15)
  for (const [name, ir] of top) console.log(`  ${(ir / c.requests).toFixed(0).padStart(7)}  ${name.slice(0, 110)}  [${partOf(name)}]`)
}
