// The outbox: a mail the API accepted survives an SMTP outage and a restart
// of the service, is delivered exactly once, by one of several instances,
// and a permanent refusal is dropped after its attempt.
import t from 'tap'
import { buildApp } from '../helpers/app.ts'
import { Client, GOOD_PASSWORD, uniqueName } from '../helpers/client.ts'
import { addressesOf, smtpSink } from '../helpers/smtp.ts'
import { postgresForSuite, redisForSuite } from '../helpers/servers.ts'
import { afterFailure, retryDelay } from '../../src/email/sender.ts'
import { emailApp, mailEnv, mailsTo, newAddress, settle } from './setup.ts'
import type { FastifyInstance } from 'fastify'

async function registerWith (app: FastifyInstance, email: string) {
  const res = await new Client(app, 'header').request('POST', '/auth/register', { body: { username: uniqueName('o'), password: GOOD_PASSWORD, email }, bearer: false })
  if (res.statusCode !== 201) throw new Error(`register: ${res.statusCode}`)
}

t.test('the retry schedule: 1 s, 5 s, 30 s, then from a minute doubling to an hour, a last attempt at 24 h', async (t) => {
  t.same([1, 2, 3, 4, 5, 6, 10, 20].map(retryDelay), [1000, 5000, 30000, 60000, 120000, 240000, 3600000, 3600000])
  const createdAt = new Date(0)
  t.same(afterFailure({ attempts: 1, createdAt }, false, 10), { retryAt: new Date(1010) })
  t.same(afterFailure({ attempts: 30, createdAt }, false, 23.5 * 3600_000), { retryAt: new Date(24 * 3600_000) }, 'the last attempt at 24 h')
  t.equal(afterFailure({ attempts: 31, createdAt }, false, 24 * 3600_000), 'give-up')
  t.equal(afterFailure({ attempts: 1, createdAt }, true, 10), 'give-up', 'a permanent refusal is the last attempt')
})

t.test('real: an SMTP outage: the mail waits and arrives once the server is back, exactly once', async (t) => {
  const { app, sink } = await emailApp(t, 'real')
  await sink.stop()
  const email = newAddress('outage')
  await registerWith(app, email)
  await settle(1500)
  t.equal(sink.messages.length, 0)
  await sink.start()
  await mailsTo(sink, email, 1, 20_000)
  await settle(2500)
  t.equal(sink.to(email).length, 1, 'once')
  const row = await app.prisma.mailOutbox.findFirstOrThrow({ where: { recipient: email.toLowerCase() } })
  t.ok(row.attempts >= 2, `${row.attempts} attempts`)
  t.ok(row.sentAt)
  t.equal(row.sealed, null)
  t.ok(app.mail.sender!.stats().failures >= 1, 'failures counted for the metrics')
})

t.test('real: the service restarts while the SMTP server is down: the next instance delivers it, once', async (t) => {
  const sink = await smtpSink(t)
  // A database of the test's own: closing the first instance must not drop it.
  const pg = await postgresForSuite()
  const redis = await redisForSuite()
  const first = await buildApp(t, { backend: 'real', env: mailEnv(sink), databaseUrl: pg.url, redis })
  await sink.stop()
  const email = newAddress('restart')
  await registerWith(first.app, email)
  await settle(300)
  await first.close()
  await sink.start()
  const second = await buildApp(t, { backend: 'real', env: mailEnv(sink), databaseUrl: pg.url, redis })
  await mailsTo(sink, email, 1, 20_000)
  await settle(2500)
  t.equal(sink.to(email).length, 1, 'delivered once, by the instance that started after')
  t.equal(await second.app.prisma.mailOutbox.count({ where: { sentAt: null } }), 0)
  await second.close()
  await pg.drop()
})

t.test('real: a 4xx is tried again; a 5xx is logged and dropped after its attempt', async (t) => {
  const { app, sink } = await emailApp(t, 'real')
  sink.failWith(451)
  const later = newAddress('later')
  await registerWith(app, later)
  const deadline = Date.now() + 10_000
  while (sink.attempts < 2 && Date.now() < deadline) await settle(50)
  t.ok(sink.attempts >= 2, 'tried again after a 451')
  sink.failWith(undefined)
  await mailsTo(sink, later, 1, 40_000)

  sink.failWith(550)
  const refused = newAddress('refused')
  const attemptsBefore = sink.attempts
  await registerWith(app, refused)
  while (sink.attempts === attemptsBefore) await settle(50)
  await settle(2500)
  t.equal(sink.attempts, attemptsBefore + 1, 'one attempt only')
  const row = await app.prisma.mailOutbox.findFirstOrThrow({ where: { recipient: refused.toLowerCase() } })
  t.ok(row.failedAt, 'given up')
  t.equal(row.sealed, null, 'its link is gone')
  t.match(row.lastError, /550/)
})

t.test('real: two instances, one outbox: every mail once', async (t) => {
  const sink = await smtpSink(t)
  const a = await buildApp(t, { backend: 'real', env: mailEnv(sink) })
  const b = await buildApp(t, { backend: 'real', env: mailEnv(sink), databaseUrl: a.databaseUrl, redis: a.redis })
  const addresses = Array.from({ length: 12 }, (_, i) => newAddress(`two${i}`))
  await Promise.all(addresses.map((email, i) => registerWith(i % 2 === 0 ? a.app : b.app, email)))
  await sink.waitFor(12, 30_000)
  await settle(3000)
  const delivered = sink.messages.flatMap(addressesOf).sort()
  t.same(delivered, addresses.map((x) => x.toLowerCase()).sort(), 'each address once, none twice')
})

t.test('embedded: the pruner deletes expired links and codes, and sent mail older than a week', async (t) => {
  const { app, sink } = await emailApp(t, 'embedded')
  const email = newAddress('prune')
  await registerWith(app, email)
  await mailsTo(sink, email)
  const user = await app.prisma.user.findFirstOrThrow({ where: { email } })
  await app.prisma.emailToken.updateMany({ where: { userId: user.id }, data: { expiresAt: new Date(Date.now() - 1000) } })
  const sent = await app.prisma.mailOutbox.findFirstOrThrow({ where: { recipient: email.toLowerCase() } })
  await app.prisma.mailOutbox.create({ data: { recipient: 'waiting@x.example', template: 'verify', sealed: 'x', createdAt: new Date(Date.now() - 8 * 86400_000), nextAttemptAt: new Date(Date.now() + 3600_000) } })
  await app.prisma.mailOutbox.update({ where: { id: sent.id }, data: { createdAt: new Date(Date.now() - 8 * 86400_000) } })
  t.equal(await app.email.prune(), 2, 'the expired token and the old sent mail')
  t.equal(await app.prisma.emailToken.count(), 0)
  t.same((await app.prisma.mailOutbox.findMany()).map((m) => m.recipient), ['waiting@x.example'], 'a mail still waiting is kept, however old')
})
