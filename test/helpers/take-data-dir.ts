// A process that tries to take a DATA_DIR's lock, for the lock's race test:
//   node test/helpers/take-data-dir.ts <dir> [goAt ms since epoch]
// waits until goAt (so that several start their try together), then prints
// one JSON line, {"taken":true} or {"refused":"<sentence>"}, and holds what it
// took until its stdin ends.
import { lockDataDir, DataDirInUseError } from '../../src/db/data-dir-lock.ts'

const [dir, goAt] = process.argv.slice(2)
while (Date.now() < Number(goAt ?? 0)) { /* a tight wait: the tries start within a millisecond of each other */ }
try {
  lockDataDir(dir, `race helper ${process.pid}`)
  console.log(JSON.stringify({ taken: true }))
} catch (err) {
  if (!(err instanceof DataDirInUseError)) throw err
  console.log(JSON.stringify({ refused: err.message }))
}
process.stdin.resume()
process.stdin.on('end', () => process.exit(0))
