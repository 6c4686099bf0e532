// The rate limits and the DPoP replay store on a Redis Cluster: counters
// and claimed proof ids are shared by every instance, whichever shard
// their keys land on.
import t from 'tap'
import { GOOD_PASSWORD, uniqueName } from '../helpers/client.ts'
import { dpopKey } from '../helpers/dpop.ts'
import { call, deploy } from './instances.ts'

const PUBLIC_URL = 'http://auth.cluster.test'

t.test('rate limits and DPoP replays are shared through the cluster', async (t) => {
  const { instances } = await deploy(t, { PUBLIC_URL, SESSION_SECRET: 'cluster-limits-session-secret-0123456789abc' })
  const bases = instances.map((i) => i.base)

  await t.test('registrations from one address: 20 a minute across all instances, then 429', async (t) => {
    const statuses: number[] = []
    for (let i = 0; i < 20; i++) {
      statuses.push((await call(bases[i % 3], 'POST', '/auth/register', { body: { username: uniqueName('limit'), password: GOOD_PASSWORD } })).status)
    }
    t.same([...new Set(statuses)], [201], 'twenty registrations, spread over three instances')
    for (const base of bases) {
      const refused = await call(base, 'POST', '/auth/register', { body: { username: uniqueName('limit'), password: GOOD_PASSWORD } })
      t.equal(refused.status, 429, 'the next is refused on every instance: one count, in the cluster')
      t.equal(refused.body.code, 'TOO_MANY_REQUESTS')
    }
  })

  await t.test('wrong passwords for one account from one address: 10 across all instances, then 429', async (t) => {
    // Guesses are counted per name, whether or not the account exists (no enumeration).
    const name = uniqueName('guessed')
    t.equal((await call(bases[0], 'POST', '/auth/login', { body: { username: name, password: 'wrong password 0' } })).status, 401)
    for (let i = 1; i < 10; i++) {
      t.equal((await call(bases[i % 3], 'POST', '/auth/login', { body: { username: name, password: `wrong password ${i}` } })).status, 401)
    }
    const refused = await call(bases[1], 'POST', '/auth/login', { body: { username: name, password: 'wrong password 10' } })
    t.equal(refused.status, 429, 'the eleventh guess is refused, wherever it is sent')
    t.equal(refused.body.code, 'TOO_MANY_REQUESTS')
  })

  await t.test('a DPoP proof is accepted once, on any instance, never again on another', async (t) => {
    const name = uniqueName('dpop')
    const key = await dpopKey()
    const proof = await key.proof('POST', '/auth/login', { htu: `${PUBLIC_URL}/auth/login` })
    const first = await call(bases[0], 'POST', '/auth/login', { body: { username: name, password: GOOD_PASSWORD }, headers: { dpop: proof } })
    // An unknown user (the registrations above used this address's up): the proof is checked, and its id claimed, before the password.
    t.equal(first.status, 401)
    t.equal(first.body.code, 'INVALID_CREDENTIALS', 'a valid proof, then the credentials are checked')
    for (const base of [bases[1], bases[2], bases[0]]) {
      const replay = await call(base, 'POST', '/auth/login', { body: { username: name, password: GOOD_PASSWORD }, headers: { dpop: proof } })
      t.equal(replay.status, 401)
      t.equal(replay.body.code, 'DPOP_PROOF_INVALID', 'the same proof again is a replay, on every instance')
    }
  })
})
