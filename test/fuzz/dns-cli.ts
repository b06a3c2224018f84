/** `npm run fuzz:dns -- [PACKETS] [SEED]`: the resolver fuzz (default 1,000,000 packets). */
import { fuzzDns } from './dns.js'
const t0 = performance.now()
const r = await fuzzDns(Number(process.argv[2] ?? 1_000_000), Number(process.argv[3] ?? Date.now() % 1e9))
console.log(JSON.stringify(r), `${Math.round(performance.now() - t0)} ms`)
