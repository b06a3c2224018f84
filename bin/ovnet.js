#!/usr/bin/env node
// The `ovnet` command: runs the built CLI (dist/, made by `npm ci` through the package's `prepare`
// build; no TypeScript at run time) in-process, so signals and exit codes are the CLI's own.
import './preload.js'

const { main } = await import('../dist/agent/cli.js')
const code = await main(process.argv)
process.exitCode = code
// Normally the process ends by itself here. If a dependency left a handle open (a socket, a
// timer), do not hang: exit after a grace period that lets stdout drain.
setTimeout(() => { process.exit(code) }, 2000).unref()
