/**
 * Loaded into `ovnet agent` processes by bench/footprint.bench.ts with `--probe` (through
 * NODE_OPTIONS="--import …/dist/bench/footprint/probe.js"); never part of a real agent.
 *
 * On every SIGUSR2 it writes `$OVNET_FOOTPRINT_DIR/<pid>-<n>.json`: process.memoryUsage(), V8's
 * heap statistics and heap spaces, CPU usage. With OVNET_FOOTPRINT_PROFILE=1 the first SIGUSR2
 * also starts node:inspector's CPU profiler and the second writes `<pid>.cpuprofile`.
 */
import { writeFileSync } from 'node:fs'
import { Session } from 'node:inspector'
import { join } from 'node:path'
import { getHeapSpaceStatistics, getHeapStatistics } from 'node:v8'

const dir = process.env.OVNET_FOOTPRINT_DIR
if (dir !== undefined && dir !== '') {
  const profile = process.env.OVNET_FOOTPRINT_PROFILE === '1'
  let n = 0
  let session: Session | undefined
  process.on('SIGUSR2', () => {
    n++
    const snapshot = {
      at: Date.now(),
      memoryUsage: process.memoryUsage(),
      heap: getHeapStatistics(),
      spaces: getHeapSpaceStatistics(),
      cpu: process.cpuUsage(),
      resource: process.resourceUsage()
    }
    writeFileSync(join(dir, `${process.pid}-${n}.json`), JSON.stringify(snapshot))
    if (!profile) return
    if (session === undefined) {
      session = new Session()
      session.connect()
      session.post('Profiler.enable', () => {
        session!.post('Profiler.setSamplingInterval', { interval: 1000 }, () => {
          session!.post('Profiler.start')
        })
      })
    } else {
      const s = session
      s.post('Profiler.stop', (err, res) => {
        if (err === null) writeFileSync(join(dir, `${process.pid}.cpuprofile`), JSON.stringify(res.profile))
        s.disconnect()
      })
    }
  })
}
