#!/usr/bin/env node
// The `ovnet` command. Plain JavaScript so it runs without a build step: it registers tsx's
// loader, loads the polyfills every dependency expects (libp2p needs Promise.withResolvers on
// Node 20), then runs the TypeScript CLI in-process (no child process, so signals and exit codes
// are the CLI's own).
import { register } from 'tsx/esm/api'

register()
await import('../proto/polyfill.ts')
const { main } = await import('../agent/cli.ts')

const code = await main(process.argv)
process.exitCode = code
// Normally the process ends by itself here. If a dependency left a handle open (a socket, a
// timer), do not hang: exit after a grace period that lets stdout drain.
setTimeout(() => { process.exit(code) }, 2000).unref()
