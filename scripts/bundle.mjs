// The build's second step (after tsc, `npm run build`): the agent as one file. esbuild bundles
// dist/agent/agent-main.js (the `ovnet agent` command's modules) and every module it imports into
// dist/bundle/agent.js, which agent/agent-loader.ts loads. Loading ~900 ESM modules one by one was
// most of an agent's start-up time and ~17 MiB of its RSS (docs/BENCHMARKS.md, bench:footprint).
//
// External (loaded from node_modules at run time, as without the bundle):
// - native modules and what wraps them: lmdb (and msgpackr, which it shares), raw-socket;
// - xsalsa20: networkdb/xsalsa20-fix.ts patches the instance that require('xsalsa20') returns, so
//   @libp2p/pnet must use that same instance, not a copy inside the bundle.
import { build } from 'esbuild'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))

await build({
  absWorkingDir: root,
  entryPoints: { agent: 'dist/agent/agent-main.js' },
  outdir: 'dist/bundle',
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external: ['lmdb', 'msgpackr', 'msgpackr-extract', 'raw-socket', 'xsalsa20'],
  // networkdb/tcp-write-cork.ts patches a module @libp2p/tcp does not export: mapped to the very
  // file, so the bundle holds one copy of it, the one libp2p uses, and the patch reaches it.
  alias: { 'ovnet-internal/libp2p-tcp-socket-to-conn': './node_modules/@libp2p/tcp/dist/src/socket-to-conn.js' },
  // CommonJS dependencies inside an ESM bundle call require() for node's built-ins.
  banner: { js: "import { createRequire as __ovnetRequire } from 'node:module'; const require = __ovnetRequire(import.meta.url);" },
  // Names kept: errors are recognised by name (ConfigError) and stack traces name functions.
  // Whitespace and syntax minified: V8 keeps the source text in the heap (4.0 MB as written,
  // held as a two-byte string: 8 MiB; 2.6 MB minified: 3 MiB).
  keepNames: true,
  minifyWhitespace: true,
  minifySyntax: true,
  legalComments: 'none',
  logLevel: 'warning'
})
