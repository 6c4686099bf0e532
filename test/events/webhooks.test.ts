// Webhooks as a receiver sees them: every event POSTed and signed per the
// Standard Webhooks specification (verified by the `standardwebhooks`
// package, not by our own code), retried with the same id while the
// receiver fails, in order per user, across a restart and with two
// instances sending each event once.
import t from 'tap'
import { createServer, type IncomingHttpHeaders } from 'node:http'
import { randomBytes } from 'node:crypto'
import { Webhook } from 'standardwebhooks'
import { buildApp, backends, type Backend, type TestApp } from '../helpers/app.ts'
import { Client, uniqueName, GOOD_PASSWORD } from '../helpers/client.ts'
import { loadConfig, ConfigError } from '../../src/config.ts'
import { retryDelay, DEFAULT_SCHEDULE } from '../../src/events/webhooks.ts'

const SECRET = `whsec_${randomBytes(32).toString('base64')}`
// Retries in milliseconds: the schedule's shape, not its seconds, is under test.
const FAST = { delaysMs: [20, 40, 80], maxDelayMs: 160, pollMs: 25, timeoutMs: 2000 }

interface Received { id: string, status: number, payload: { type: string, timestamp: string, data: { id: string, type: string, userId: string | null } } }

/** A receiver on loopback: verifies each message, answers what `answer` says. */
async function receiver (t: { teardown: (fn: () => unknown) => void }, answer: (n: number) => number = () => 204, delayMs = 0) {
  const wh = new Webhook(SECRET)
  const got: Received[] = []
  const forged: string[] = []
  let n = 0
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString()
      let payload: Received['payload']
      try { payload = wh.verify(body, req.headers as Record<string, string>) as Received['payload'] } catch (err) {
        forged.push((err as Error).message)
        res.writeHead(400).end()
        return
      }
      const status = answer(n++)
      got.push({ id: (req.headers as IncomingHttpHeaders)['webhook-id'] as string, status, payload })
      setTimeout(() => res.writeHead(status).end(), delayMs)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()) }))
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/hooks`
  return {
    url,
    got,
    forged,
    /** Delivered: answered 2xx. */
    delivered: () => got.filter((r) => r.status < 300),
    setAnswer (fn: (n: number) => number) { answer = fn }
  }
}

async function until (what: string, check: () => boolean | Promise<boolean>, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!await check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

async function withWebhooks (t: Parameters<typeof buildApp>[0], backend: Backend, url: string, shared: Partial<Pick<TestApp, 'databaseUrl' | 'redis'>> = {}) {
  const built = await buildApp(t, { backend, env: { WEBHOOK_URL: url, WEBHOOK_SECRET: SECRET }, ...shared })
  built.app.webhooks!.tune(FAST)
  return built
}

async function activity (app: TestApp['app'], logins = 1) {
  const c = new Client(app, 'header')
  const name = uniqueName('hook')
  await c.register(name, GOOD_PASSWORD)
  for (let i = 0; i < logins; i++) await c.login(name, GOOD_PASSWORD)
  return { c, name, id: (await c.me()).json().id as string }
}

/** Event ids stored, in order. */
async function storedIds (app: TestApp['app']): Promise<string[]> {
  return (await app.prisma.securityEvent.findMany({ orderBy: { id: 'asc' }, select: { id: true } })).map((e) => e.id.toString())
}

t.test('the retry schedule: about 1 s, 5 s, 30 s, then doubling up to an hour', async (t) => {
  t.same([1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map((n) => retryDelay(n, DEFAULT_SCHEDULE) / 1000), [1, 5, 30, 60, 120, 240, 480, 960, 1920, 3600])
  t.equal(retryDelay(30, DEFAULT_SCHEDULE), 3_600_000)
  t.equal(DEFAULT_SCHEDULE.giveUpAfterMs, 86_400_000)
})

t.test('WEBHOOK_URL must be http(s), with a whsec_ secret', async (t) => {
  for (const [env, sentence] of [
    [{ WEBHOOK_URL: 'file:///etc/passwd', WEBHOOK_SECRET: SECRET }, /http:\/\/ or https:\/\//],
    [{ WEBHOOK_URL: 'gopher://127.0.0.1:6379/_FLUSHALL', WEBHOOK_SECRET: SECRET }, /http:\/\/ or https:\/\//],
    [{ WEBHOOK_URL: 'not a url', WEBHOOK_SECRET: SECRET }, /http:\/\/ or https:\/\//],
    [{ WEBHOOK_URL: 'https://hooks.example.com/x' }, /go together/],
    [{ WEBHOOK_URL: 'https://hooks.example.com/x', WEBHOOK_SECRET: 'plain-secret-without-prefix-0123456789' }, /whsec_/],
    [{ WEBHOOK_URL: 'https://hooks.example.com/x', WEBHOOK_SECRET: 'whsec_c2hvcnQ=' }, /24 to 64/],
    [{ WEBHOOK_URL: 'https://user:pw@hooks.example.com/x', WEBHOOK_SECRET: SECRET }, /credentials/]
  ] as const) {
    t.throws(() => loadConfig(env), { constructor: ConfigError, message: sentence }, JSON.stringify(env))
  }
  t.equal(loadConfig({ WEBHOOK_URL: 'https://hooks.example.com/x', WEBHOOK_SECRET: SECRET }).webhook?.url, 'https://hooks.example.com/x')
  t.equal(loadConfig({}).webhook, undefined)
})

for (const backend of backends) {
  t.test(`${backend} backend`, async (t) => {
    t.test('each event is POSTed as {type, timestamp, data}, signed, verified by standardwebhooks', async (t) => {
      const hook = await receiver(t)
      const { app } = await withWebhooks(t, backend, hook.url)
      const { id } = await activity(app)
      await until('both events', () => hook.delivered().filter((r) => r.payload.data.userId === id).length === 2)
      const [registered, login] = hook.delivered().filter((r) => r.payload.data.userId === id)
      t.equal(registered.payload.type, 'user_registered')
      t.equal(login.payload.type, 'login')
      t.same(Object.keys(login.payload).sort(), ['data', 'timestamp', 'type'])
      t.same(Object.keys(login.payload.data).sort(), ['actorId', 'at', 'details', 'id', 'ip', 'type', 'userAgent', 'userId'])
      t.equal(login.id, `evt_${login.payload.data.id}`, 'webhook-id names the event')
      t.equal(login.payload.timestamp, (login.payload.data as unknown as { at: string }).at)
      t.same(hook.forged, [], 'every message verifies')
      await until('the outbox empties', async () => await app.webhooks!.pending() === 0)
      const row = await app.prisma.webhookDelivery.findUnique({ where: { eventId: BigInt(login.payload.data.id) } })
      t.ok(row?.deliveredAt, 'marked delivered')
      t.equal(row?.orderKey, id, 'ordered by its user')
    })

    t.test('a receiver failing then recovering: retried with the same id, in order per user', async (t) => {
      const hook = await receiver(t, (n) => n < 7 ? (n % 2 === 0 ? 500 : 503) : 200)
      const { app } = await withWebhooks(t, backend, hook.url)
      const users = [await activity(app, 2), await activity(app, 2)]
      const ids = await storedIds(app)
      await until('every event delivered', () => new Set(hook.delivered().map((r) => r.id)).size === ids.length)
      t.ok(hook.got.some((r) => r.status >= 500), 'some attempts failed')
      for (const failed of hook.got.filter((r) => r.status >= 500)) {
        t.ok(hook.delivered().some((r) => r.id === failed.id), `${failed.id} was retried with the same webhook-id and delivered`)
      }
      for (const u of users) {
        const attempts = hook.got.filter((r) => r.payload.data.userId === u.id).map((r) => BigInt(r.payload.data.id))
        // Never a later event of the user before an earlier one is delivered: attempts only move forward.
        t.same(attempts, [...attempts].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)), `${u.name}: attempts in event order`)
        t.same(hook.delivered().filter((r) => r.payload.data.userId === u.id).map((r) => r.payload.type), ['user_registered', 'login', 'login'])
      }
      const deliveries = await app.prisma.webhookDelivery.findMany({ where: { lastStatus: 200 } })
      t.ok(deliveries.some((d) => d.attempts > 1), 'attempts counted')
      t.ok(app.webhooks!.stats().failures >= 7, 'failures counted')
    })

    t.test('a receiver that never recovers: given up on after the retry window', async (t) => {
      const hook = await receiver(t, () => 500)
      const { app } = await withWebhooks(t, backend, hook.url)
      app.webhooks!.tune({ giveUpAfterMs: 300 })
      await activity(app, 0)
      await until('given up', async () => await app.prisma.webhookDelivery.count({ where: { failedAt: { not: null } } }) === 1)
      const row = await app.prisma.webhookDelivery.findFirst()
      t.equal(row?.lastStatus, 500)
      t.equal(row?.lastError, 'answered 500')
      t.ok((row?.attempts ?? 0) >= 2)
      t.equal(await app.webhooks!.pending(), 0)
    })
  })
}

// A restart and a second instance need one database two apps can open: a PostgreSQL server.
t.test('a restart in the middle: what was pending is delivered by the next process', async (t) => {
  const hook = await receiver(t, () => 503)
  const first = await withWebhooks(t, 'real', hook.url)
  await activity(first.app, 2)
  await until('a first failed attempt', () => hook.got.length > 0)
  const ids = await storedIds(first.app)
  await first.app.close()
  const seenBefore = hook.got.length
  hook.setAnswer(() => 200)
  const second = await withWebhooks(t, 'real', hook.url, { databaseUrl: first.databaseUrl, redis: first.redis })
  await until('every event delivered', () => new Set(hook.delivered().map((r) => r.id)).size === ids.length)
  t.ok(hook.got.length > seenBefore, 'the new process sent them')
  t.same(hook.delivered().map((r) => r.payload.data.id).sort(), [...ids].sort(), 'each once, none lost')
  // The receiver has the last one before the sender records its answer: wait for that write.
  await until('the outbox empties', async () => await second.app.webhooks!.pending() === 0)
  t.equal(await second.app.webhooks!.pending(), 0, 'nothing left pending')
})

t.test('two instances: each event delivered exactly once', async (t) => {
  // A slow receiver: each delivery is in flight long enough for the other instance to look for it.
  const hook = await receiver(t, () => 204, 100)
  const a = await withWebhooks(t, 'real', hook.url)
  const b = await withWebhooks(t, 'real', hook.url, { databaseUrl: a.databaseUrl, redis: a.redis })
  const work = []
  for (let i = 0; i < 6; i++) work.push(activity(i % 2 === 0 ? a.app : b.app, 2))
  await Promise.all(work)
  const ids = await storedIds(a.app)
  t.equal(ids.length, 18)
  await until('every event delivered', () => hook.got.length >= ids.length)
  // Both senders keep polling a little longer: a second delivery would show up now.
  await new Promise((resolve) => setTimeout(resolve, 300))
  const counts = new Map<string, number>()
  for (const r of hook.got) counts.set(r.id, (counts.get(r.id) ?? 0) + 1)
  t.equal(hook.got.length, ids.length, 'as many POSTs as events')
  t.ok([...counts.values()].every((n) => n === 1), 'no event twice')
  t.ok(a.app.webhooks!.stats().delivered > 0 && b.app.webhooks!.stats().delivered > 0, 'both instances sent some')
})

t.test('metrics: the queue and the failures', async (t) => {
  const hook = await receiver(t, () => 500)
  const { app } = await buildApp(t, { backend: 'embedded', env: { WEBHOOK_URL: hook.url, WEBHOOK_SECRET: SECRET, METRICS_PORT: '0' } })
  app.webhooks!.tune({ ...FAST, delaysMs: [60_000], maxDelayMs: 60_000 })
  await activity(app, 1)
  await until('two failures', () => app.webhooks!.stats().failures >= 1)
  const text = await (await fetch(`http://127.0.0.1:${app.metrics.address()!.port}/metrics`)).text()
  t.match(text, /^auth_webhook_queue 2$/m, 'two deliveries waiting (the second behind the first)')
  t.match(text, /^auth_webhook_failures_total [1-9]\d*$/m)
})
