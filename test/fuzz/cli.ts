/** `npm run fuzz -- [FRAMES] [SEED]`: the full decoder fuzz (default 1,000,000 frames). */
import { fuzzDecoders } from './decoders.js'
const t0 = performance.now()
const r = await fuzzDecoders(Number(process.argv[2] ?? 1_000_000), Number(process.argv[3] ?? Date.now() % 1e9))
console.log(JSON.stringify(r), `${Math.round(performance.now() - t0)} ms`)
