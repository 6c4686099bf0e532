// Figure 3's login storm, in a process of its own (bench/run.ts starts it at
// a lower CPU priority than itself): a load generator's own work at its start
// and end (autocannon in the measuring process stalled it for up to 55 ms)
// would otherwise delay the dispatch of the fixed-rate requests being
// measured, and count as the service's latency.
//   node bench/storm.ts <base> <seconds> <connections> <json body>
// Prints "ready", waits for a line on stdin (so that its start-up is over
// before the measured round begins), then each connection logs in back to
// back; prints {"logins": n, "failed": n, "perSecond": x}.
import { Pool } from 'undici'

const [base, seconds, connections, body] = process.argv.slice(2)
const pool = new Pool(base, { connections: Number(connections), pipelining: 1 })
console.log('ready')
await new Promise((resolve) => process.stdin.once('data', resolve))
process.stdin.pause()
const end = performance.now() + Number(seconds) * 1000
let logins = 0
let failed = 0
async function connection () {
  while (performance.now() < end) {
    try {
      const res = await pool.request({ method: 'POST', path: '/auth/login', headers: { 'content-type': 'application/json', 'x-auth-mode': 'header' }, body })
      await res.body.text()
      if (res.statusCode === 200) logins++
      else failed++
    } catch {
      failed++
    }
  }
}
const start = performance.now()
await Promise.all(Array.from({ length: Number(connections) }, connection))
const elapsed = (performance.now() - start) / 1000
await pool.close()
console.log(JSON.stringify({ logins, failed, perSecond: logins / elapsed }))
