// A Redis connection stays up: one that ioredis ends for good (as it did
// during a Sentinel failover under load) is opened again; only shutdown() ends it.
import t from 'tap'
import { createRedis } from '../../src/db/redis.ts'
import { redisForSuite, eventually } from '../helpers/servers.ts'

t.test('an ended connection is opened again; a shut one is not', async (t) => {
  const redis = await redisForSuite()
  const conn = createRedis({ url: redis.url }, { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 1 })
  conn.on('error', () => {})
  await conn.connect()
  t.equal(await conn.ping(), 'PONG')
  conn.disconnect() // what ioredis does to itself: status `end`, no reconnect of its own
  t.ok(await eventually(() => conn.status === 'end', 1000), 'ended')
  t.ok(await eventually(() => conn.status === 'ready', 3000), 'and opened again')
  t.equal(await conn.ping(), 'PONG')
  conn.shutdown()
  await new Promise((resolve) => setTimeout(resolve, 1200))
  t.equal(conn.status, 'end', 'shutdown() is final')
})
