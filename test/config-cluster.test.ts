// REDIS_CLUSTER_NODES: a Redis Cluster instead of REDIS_URL or the
// Sentinels, never beside them.
import t from 'tap'
import { loadConfig, ConfigError } from '../src/config.ts'

t.test('REDIS_CLUSTER_NODES names the cluster\'s nodes', async (t) => {
  const c = loadConfig({ REDIS_CLUSTER_NODES: '10.0.0.1:7000, redis-2.internal:7001,[fd00::3]:7002' })
  t.same(c.redis, { cluster: [{ host: '10.0.0.1', port: 7000 }, { host: 'redis-2.internal', port: 7001 }, { host: 'fd00::3', port: 7002 }] })
  t.equal(c.redisUrl, undefined)
  t.same(loadConfig({ REDIS_CLUSTER_NODES: '127.0.0.1:30001' }).redis, { cluster: [{ host: '127.0.0.1', port: 30001 }] }, 'one node is enough: the client learns the others from it')
  t.equal(loadConfig({ REDIS_CLUSTER_NODES: '' }).redis, undefined, 'empty is unset')
  t.same(loadConfig({ REDIS_URL: 'redis://cache:6379', REDIS_CLUSTER_NODES: ' ' }).redis, { url: 'redis://cache:6379' })
})

t.test('a bad list stops start-up with a sentence naming the variable and the entry', async (t) => {
  for (const [raw, entry] of [['cache', 'cache'], ['10.0.0.1:7000,', ''], ['10.0.0.1:0', '10.0.0.1:0'], ['10.0.0.1:65536', '10.0.0.1:65536'], ['redis://10.0.0.1:7000', 'redis://10.0.0.1:7000'], ['fd00::3:7000', 'fd00::3:7000']]) {
    t.throws(() => loadConfig({ REDIS_CLUSTER_NODES: raw }), new ConfigError(`REDIS_CLUSTER_NODES must list host:port pairs separated by commas, got "${entry}"`), raw)
  }
})

t.test('a cluster beside REDIS_URL or the Sentinels is refused', async (t) => {
  t.throws(() => loadConfig({ REDIS_CLUSTER_NODES: '10.0.0.1:7000', REDIS_URL: 'redis://cache:6379' }), new ConfigError('set REDIS_URL or REDIS_CLUSTER_NODES, not both'))
  const sentinels = new ConfigError('set REDIS_SENTINELS or REDIS_CLUSTER_NODES, not both: a Redis Cluster fails over by itself, without Sentinels')
  t.throws(() => loadConfig({ REDIS_CLUSTER_NODES: '10.0.0.1:7000', REDIS_SENTINELS: '10.0.0.9:26379', REDIS_SENTINEL_NAME: 'auth' }), sentinels)
  t.throws(() => loadConfig({ REDIS_CLUSTER_NODES: '10.0.0.1:7000', REDIS_SENTINEL_NAME: 'auth' }), sentinels)
})

t.test('the Sentinels are read as before', async (t) => {
  t.same(loadConfig({ REDIS_SENTINELS: '10.0.0.9:26379,10.0.0.10:26379', REDIS_SENTINEL_NAME: 'auth' }).redis, { sentinels: [{ host: '10.0.0.9', port: 26379 }, { host: '10.0.0.10', port: 26379 }], name: 'auth' })
  t.throws(() => loadConfig({ REDIS_SENTINELS: 'nope', REDIS_SENTINEL_NAME: 'auth' }), new ConfigError('REDIS_SENTINELS must list host:port pairs separated by commas, got "nope"'))
  t.throws(() => loadConfig({ REDIS_SENTINELS: '10.0.0.9:26379', REDIS_URL: 'redis://cache:6379', REDIS_SENTINEL_NAME: 'auth' }), new ConfigError('set REDIS_URL or REDIS_SENTINELS, not both'))
})
