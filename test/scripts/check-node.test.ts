// On a Node too old for this project, `npm ci` stops with one sentence saying
// which Node is needed and how to get it, not ERR_UNKNOWN_FILE_EXTENSION.
import t from 'tap'
import { createRequire } from 'node:module'
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'

const require = createRequire(import.meta.url)
const { tooOld, sentence } = require('../../scripts/check-node.cjs') as { tooOld: (v: string) => boolean, sentence: (v: string) => string }
const postinstall = JSON.parse(readFileSync('package.json', 'utf8')).scripts.postinstall as string

t.test('which versions are too old', async (t) => {
  for (const v of ['v18.20.0', 'v20.20.2', 'v22.17.9']) t.ok(tooOld(v), v)
  for (const v of ['v22.18.0', 'v22.20.1', 'v24.21.0', 'v25.0.0']) t.notOk(tooOld(v), v)
  t.match(sentence('v20.20.2'), /^auth-service needs Node\.js 22\.18 or newer \(24 LTS recommended\).*this is Node v20\.20\.2\. Install Node 24/)
  t.match(postinstall, /^node scripts\/check-node\.cjs && /, 'the check runs before anything TypeScript in the install')
  const engines = JSON.parse(readFileSync('package.json', 'utf8')).engines.node
  t.equal(engines, '>=22.18', 'and agrees with engines')
})

t.test('the postinstall on this Node runs', async (t) => {
  const run = spawnSync('sh', ['-c', 'node scripts/check-node.cjs'], { encoding: 'utf8' })
  t.equal(run.status, 0, run.stderr)
})

// Debian's own node on these machines is v20: the install command as npm runs it, on that Node.
const old = spawnSync('/usr/bin/node', ['--version'], { encoding: 'utf8' })
if (old.status === 0 && tooOld(old.stdout.trim())) {
  t.test(`the postinstall on Node ${old.stdout.trim()} stops with the sentence`, async (t) => {
    const run = spawnSync('sh', ['-c', postinstall], { encoding: 'utf8', env: { ...process.env, PATH: `/usr/bin:${process.env.PATH}` } })
    t.equal(run.status, 1)
    t.equal(run.stderr.trim(), sentence(old.stdout.trim()))
    t.notMatch(run.stderr, /ERR_UNKNOWN_FILE_EXTENSION/)
  })
}
