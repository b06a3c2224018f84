#!/usr/bin/env node
// The `ovnet-cni` command, the CNI plugin (install it as `ovnet` in the CNI plugin directory: a
// network config's "type" names the binary). Plain JavaScript like bin/ovnet.js: it registers
// tsx's loader and runs the TypeScript entry in-process. No polyfill: the plugin loads none of
// the dependencies that need one (see agent/cni/main.ts), and it runs on every container start.
import { register } from 'tsx/esm/api'

register()
const { main } = await import('../agent/cni/main.ts')

const code = await main(process.argv, process.env, process.stdin, process.stdout)
// On the container start path: exit as soon as the result is flushed to the runtime's pipe
// rather than waiting for sockets to finish closing.
process.exitCode = code
process.stdout.write('', () => { process.exit(code) })
