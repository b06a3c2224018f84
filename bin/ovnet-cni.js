#!/usr/bin/env node
// The `ovnet-cni` command, the CNI plugin (install it as `ovnet` in the CNI plugin directory: a
// network config's "type" names the binary). Runs the built entry (dist/, made by `npm ci`) in-process.
// preload.js checks the build and loads the polyfill module, which defines nothing the plugin's
// few imports need but keeps one start-up path for every entry point.
import './preload.js'

const { main } = await import('../dist/agent/cni/main.js')

const code = await main(process.argv, process.env, process.stdin, process.stdout)
// On the container start path: exit as soon as the result is flushed to the runtime's pipe
// rather than waiting for sockets to finish closing.
process.exitCode = code
process.stdout.write('', () => { process.exit(code) })
