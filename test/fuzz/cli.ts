/**
 * `npm run fuzz -- [FRAMES] [SEED] [--only decoders|handlers]`: the full fuzz, 1,000,000 frames by
 * default through every proto decoder (decoders.ts) and as many through NetworkDB's message
 * handlers (handlers.ts). A failure prints the frame (hex) and exits 1; replay it with its seed.
 */
import { fuzzDecoders } from './decoders.js'
import { fuzzHandlers } from './handlers.js'

const args = process.argv.slice(2)
const at = args.indexOf('--only')
const only = at >= 0 ? args.splice(at, 2)[1] : undefined
if (only !== undefined && only !== 'decoders' && only !== 'handlers') {
  console.error('--only takes decoders or handlers')
  process.exit(2)
}
const frames = Number(args[0] ?? 1_000_000)
const seed = Number(args[1] ?? Date.now() % 1e9)
console.log(`seed ${seed}`)
for (const [name, run] of [['decoders', fuzzDecoders], ['handlers', fuzzHandlers]] as const) {
  if (only !== undefined && only !== name) continue
  const t0 = performance.now()
  try {
    const r = await run(frames, seed)
    console.log(name, JSON.stringify(r), `${Math.round(performance.now() - t0)} ms`)
  } catch (err) {
    console.error(name, err instanceof Error ? err.message : String(err))
    process.exit(1)
  }
}
