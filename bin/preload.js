// Loaded first by every built entry point (bin/ovnet.js, `npm start`, `npm run lab|chaos|bench:cluster`
// via `node --import ./bin/preload.js`): checks that the build exists, then loads the one polyfill
// module (libp2p 3 needs Promise.withResolvers on Node 20) before any dependency. The only place
// that names the polyfill's built path.
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const polyfill = new URL('../dist/core/polyfill.js', import.meta.url)
if (!existsSync(polyfill)) {
  const repo = fileURLToPath(new URL('..', import.meta.url))
  process.stderr.write(`ovnet is not built (${fileURLToPath(polyfill)} is missing): run \`npm ci\` or \`npm run build\` in ${repo}\n`)
  process.exit(2)
}
await import(polyfill.href)
