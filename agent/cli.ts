/**
 * The `ovnet` command line. Command names, flags and `--json` shapes are a contract (issue 5,
 * "CLI"): users and tests script against them.
 *
 * Exit codes: 0 success; 1 the operation failed (the agent's libnetwork error text on stderr);
 * 2 usage or configuration error; 3 the agent is not reachable on its socket.
 */
import { resolve } from 'node:path'
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander'
import { AgentUnavailableError, ApiClient, DEFAULT_SOCKET } from './api-client.js'
import type { AttachRequest, NetworkCreateRequest } from './api-types.js'
import {
  attachTable, encryptionText, eventLine, ipamTables, membersTable, networksTable, reclaimText
} from './cli-format.js'
import type { AgentFlags } from './config.js'
import { OVNET_VERSION } from './version.js'

// Start-up time is the CLI's latency (and a CNI plugin's, once per container): the client
// commands load commander, the API client and the formatters only. The agent (libp2p, lmdb,
// pino, prom-client), its configuration (yaml, zod) and keygen (@libp2p/pnet) are imported by
// the commands that need them. test/agent/cli-modules.test.ts checks this.

export const EXIT_OK = 0
export const EXIT_FAILED = 1
export const EXIT_USAGE = 2
export const EXIT_UNAVAILABLE = 3

export interface CliIO {
  stdout: (s: string) => void
  stderr: (s: string) => void
  env: NodeJS.ProcessEnv
  cwd: string
}

const processIO: CliIO = {
  stdout: s => { process.stdout.write(s) },
  stderr: s => { process.stderr.write(s) },
  env: process.env,
  cwd: process.cwd()
}

const json = (v: unknown): string => JSON.stringify(v, null, 2) + '\n'

/** `bare`: a KEY alone is KEY="" (Docker's `--opt encrypted`). */
function keyValue (flag: string, bare = false) {
  return (v: string, prev: Record<string, string> = {}): Record<string, string> => {
    const eq = v.indexOf('=')
    if (bare && eq === -1 && v !== '') return { ...prev, [v]: '' }
    if (eq <= 0) throw new InvalidArgumentError(`${flag} takes KEY=VALUE, got "${v}"`)
    return { ...prev, [v.slice(0, eq)]: v.slice(eq + 1) }
  }
}

function integerArg (v: string): number {
  if (!/^\d+$/.test(v)) throw new InvalidArgumentError(`not a whole number: "${v}"`)
  return Number(v)
}

const collect = (v: string, prev: string[] = []): string[] => [...prev, v]

/** A namespace given as a path is resolved here: the agent's working directory is not ours. */
function netnsArg (v: string, cwd: string): string {
  return v.includes('/') ? resolve(cwd, v) : v
}

export function buildProgram (io: CliIO, setExit: (code: number) => void): Command {
  const socketOption = (): Option => new Option('--socket <path>', 'control socket of the agent')
    .env('OVNET_SOCKET').default(DEFAULT_SOCKET)
  const client = (o: { socket: string }): ApiClient => new ApiClient(o.socket)

  const program = new Command('ovnet')
    .description('multi-host container overlay network')
    .exitOverride()
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr })
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText('after',
      '\nExit codes: 0 ok, 1 operation failed, 2 usage or configuration error, 3 agent not reachable.')

  // ---- cluster ----
  const cluster = program.command('cluster').description('cluster membership')
  cluster.command('members').description('list the cluster members with their status and underlay RTT')
    .option('--json', 'print JSON: [{Name, ID, Address, Status, RTT, Encryption}]')
    .addOption(socketOption())
    .action(async (o: { json?: boolean, socket: string }) => {
      const members = await client(o).members()
      io.stdout(o.json === true ? json(members) : membersTable(members))
    })
  cluster.command('rotate-key')
    .description('give this host a new WireGuard key pair (encrypted networks); peers follow')
    .option('--json', 'print JSON: {PublicKey}')
    .addOption(socketOption())
    .action(async (o: { json?: boolean, socket: string }) => {
      const r = await client(o).rotateKey()
      io.stdout(o.json === true ? json(r) : `new public key ${r.PublicKey}\n`)
    })
  cluster.command('encryption').description('this host\'s WireGuard: mode, device, public key, peers')
    .option('--json', 'print JSON')
    .addOption(socketOption())
    .action(async (o: { json?: boolean, socket: string }) => {
      const e = await client(o).encryption()
      io.stdout(o.json === true ? json(e) : encryptionText(e))
    })

  // ---- network ----
  const network = program.command('network').description('manage overlay networks')
  network.command('create').description('create a network (visible on every host); prints its id')
    .argument('<name>', 'network name')
    .option('--subnet <cidr>', 'subnet (default: the next free pool)')
    .option('--gateway <ip>', 'gateway address (default: the first usable address)')
    .option('--ip-range <cidr>', 'allocate container addresses from this sub-range')
    .option('--vni <n>', 'VXLAN id (default: allocated)', integerArg)
    .option('--opt <key=value>', 'driver option, repeatable; "--opt encrypted": VXLAN between hosts inside WireGuard',
      keyValue('--opt', true))
    .option('--label <key=value>', 'label, repeatable', keyValue('--label'))
    .option('--internal', 'no egress: containers reach each other only (no NAT, no published ports)')
    .addOption(socketOption())
    .action(async (name: string, o: {
      subnet?: string, gateway?: string, ipRange?: string, vni?: number, opt?: Record<string, string>,
      label?: Record<string, string>, internal?: boolean, socket: string
    }) => {
      const req: NetworkCreateRequest = { Name: name }
      if (o.internal === true) req.Internal = true
      if (o.subnet !== undefined) req.Subnet = o.subnet
      if (o.gateway !== undefined) req.Gateway = o.gateway
      if (o.ipRange !== undefined) req.IPRange = o.ipRange
      if (o.vni !== undefined) req.VNI = o.vni
      if (o.opt !== undefined) req.Options = o.opt
      if (o.label !== undefined) req.Labels = o.label
      const res = await client(o).createNetwork(req)
      io.stdout(res.Id + '\n')
    })
  network.command('ls').alias('list').description('list networks')
    .option('--json', 'print JSON: [{Name, Id, Created, Driver, Scope, Subnets}]')
    .addOption(socketOption())
    .action(async (o: { json?: boolean, socket: string }) => {
      const nets = await client(o).listNetworks()
      io.stdout(o.json === true ? json(nets) : networksTable(nets))
    })
  network.command('inspect').description('show a network as JSON (docker network inspect shape)')
    .argument('<network>', 'name, id or id prefix')
    .option('--verbose', 'add Peers, every Endpoint of the cluster and IPAM Status')
    .addOption(socketOption())
    .action(async (net: string, o: { verbose?: boolean, socket: string }) => {
      const info = await client(o).inspectNetwork(net, o.verbose === true)
      // An array, as `docker network inspect` prints.
      io.stdout(json([info]))
    })
  network.command('rm').alias('remove').description('remove a network (no endpoint may remain on any host)')
    .argument('<network>', 'name, id or id prefix')
    .addOption(socketOption())
    .action(async (net: string, o: { socket: string }) => {
      await client(o).removeNetwork(net)
      io.stdout(net + '\n')
    })

  // ---- attach / detach ----
  program.command('attach').description('connect a network namespace to a network (endpoint + sandbox + join)')
    .argument('<network>', 'name, id or id prefix')
    .requiredOption('--netns <name|path>', 'namespace name (ip netns) or path')
    .option('--name <epname>', 'endpoint name (default: derived from the namespace)')
    .option('--ip <ip>', 'IPv4 address (default: allocated)')
    .option('--mac <mac>', 'MAC address (default: 02:42 + the IPv4 bytes)')
    .option('--publish <[hostip:]hostport:ctrport[/tcp|/udp]>',
      'publish a container port at this host\'s address, repeatable', collect)
    .option('--alias <name>',
      'an extra DNS name of the endpoint (several endpoints may share one), repeatable', collect)
    .option('--dns', 'point the namespace\'s resolv.conf at the network\'s resolver')
    .option('--json', 'print JSON: {EndpointID, IPv4Address, MacAddress, Gateway, DNS}')
    .addOption(socketOption())
    .action(async (net: string, o: {
      netns: string, name?: string, ip?: string, mac?: string, publish?: string[], alias?: string[], dns?: boolean,
      json?: boolean, socket: string
    }) => {
      const req: AttachRequest = { Netns: netnsArg(o.netns, io.cwd) }
      if (o.publish !== undefined) req.Publish = o.publish
      if (o.alias !== undefined) req.Aliases = o.alias
      if (o.dns === true) req.DNS = true
      if (o.name !== undefined) req.Name = o.name
      if (o.ip !== undefined) req.IP = o.ip
      if (o.mac !== undefined) req.MAC = o.mac
      const res = await client(o).attach(net, req)
      io.stdout(o.json === true ? json(res) : attachTable(res))
    })
  program.command('detach').description('disconnect a network namespace from a network')
    .argument('<network>', 'name, id or id prefix')
    .requiredOption('--netns <name|path>', 'namespace name (ip netns) or path')
    .addOption(socketOption())
    .action(async (net: string, o: { netns: string, socket: string }) => {
      await client(o).detach(net, { Netns: netnsArg(o.netns, io.cwd) })
    })

  // ---- ipam ----
  const ipam = program.command('ipam').description('global address management')
  ipam.command('status').description('pools, addresses in use and free, ranges per node')
    .option('--json', 'print JSON')
    .addOption(socketOption())
    .action(async (o: { json?: boolean, socket: string }) => {
      const s = await client(o).ipamStatus()
      io.stdout(o.json === true ? json(s) : ipamTables(s))
    })
  ipam.command('reclaim').description('take back the address ranges of a node that is gone for good')
    .argument('<node>', 'node name or id')
    .addOption(socketOption())
    .action(async (node: string, o: { socket: string }) => {
      io.stdout(reclaimText(await client(o).ipamReclaim(node)))
    })

  // ---- events ----
  program.command('events').description('print network, endpoint and peer events as they happen, until interrupted')
    .option('--json', 'one JSON object per line')
    .addOption(socketOption())
    .action(async (o: { json?: boolean, socket: string }) => {
      const abort = new AbortController()
      const stop = (): void => { abort.abort() }
      process.once('SIGINT', stop)
      process.once('SIGTERM', stop)
      try {
        for await (const ev of client(o).events(abort.signal)) {
          io.stdout(o.json === true ? JSON.stringify(ev) + '\n' : eventLine(ev))
        }
      } finally {
        process.off('SIGINT', stop)
        process.off('SIGTERM', stop)
      }
      if (!abort.signal.aborted) {
        io.stderr('the agent closed the event stream\n')
        setExit(EXIT_FAILED)
      }
    })

  // ---- keygen / version ----
  program.command('keygen').description('write a new cluster key (mode 0600) to FILE; copy it to every host')
    .argument('<file>', 'where to write the key (must not exist)')
    .action(async (file: string) => {
      const path = resolve(io.cwd, file)
      const { generateClusterKey } = await import('../networkdb/index.js')
      await generateClusterKey(path)
      io.stdout(`cluster key written to ${path}\n`)
    })
  program.command('version').description('print the client and agent versions')
    .option('--json', 'print JSON')
    .addOption(socketOption())
    .action(async (o: { json?: boolean, socket: string }) => {
      let agent: { Name: string, Version: string } | null = null
      try {
        agent = await new ApiClient(o.socket, { timeoutMs: 5000 }).ping()
      } catch {
        // The client version is still worth printing when no agent runs.
      }
      if (o.json === true) {
        io.stdout(json({ Client: { Version: OVNET_VERSION }, Agent: agent }))
      } else {
        io.stdout(
          `Client: ${OVNET_VERSION}\nAgent:  ${agent === null ? 'not running' : `${agent.Version} (${agent.Name})`}\n`
        )
      }
    })

  // ---- agent ----
  program.command('agent').description('run the ovnet agent (the daemon) on this host')
    .option('--config <file>', 'YAML configuration file (flags override it)')
    .option('--name <name>', 'node name (default: the host name)')
    .option('--data-dir <dir>', 'state directory (default /var/lib/ovnet)')
    .addOption(new Option('--socket <path>', 'control socket (default /run/ovnet/ovnet.sock)').env('OVNET_SOCKET'))
    .option('--bind <addr:port>', 'cluster listen address (default 0.0.0.0:7946)')
    .option('--advertise <addr>', 'underlay address announced to peers (the VTEP)')
    .option('--join <addr:port,...>', 'seed agents to join, repeatable', collect)
    .option('--cluster-key <file>', 'cluster key file (required; create with `ovnet keygen`)')
    .option('--vxlan-port <n>', 'VXLAN UDP port, the same on every host (default 4789)')
    .option('--encrypted-vxlan-port <n>',
      'VXLAN UDP port of encrypted networks, the same on every host (default: vxlan-port + 1)')
    .option('--wg-interface <name>', 'WireGuard device of encrypted networks (default ovwg0)')
    .option('--wg-port <n>', 'WireGuard UDP port, the same on every host (default 51820)')
    .option('--socket-group <group>', 'group (name or id) of the control socket, mode 0660 (default: root\'s)')
    .option('--metrics <[addr:]port>', 'serve Prometheus metrics at http://ADDR:PORT/metrics (bare port: 127.0.0.1)')
    .option('--log-level <level>', 'trace, debug, info, warn, error (default info)')
    .option('--docker-plugin [path]',
      'serve the Docker remote network/IPAM plugin on this socket (default /run/docker/plugins/ovnet.sock)')
    .option('--dns-resolv-conf <file>',
      'resolv.conf whose nameservers get the names the embedded DNS forwards (default /etc/resolv.conf)')
    .action(async (o: AgentFlags) => {
      const { loadAgentModules } = await import('./agent-loader.js')
      const { AgentInterruptedError, loadAgentConfig, runAgent } = await loadAgentModules()
      const config = await loadAgentConfig(o, { cwd: io.cwd })
      let handle
      try {
        handle = await runAgent(config)
      } catch (err) {
        if (err instanceof AgentInterruptedError) return
        throw err
      }
      const clean = await handle.done
      if (!clean) setExit(EXIT_FAILED)
    })

  return program
}

/** Run the CLI; resolves to the process exit code (the caller exits). */
export async function main (argv: readonly string[], io: CliIO = processIO): Promise<number> {
  let code = EXIT_OK
  const program = buildProgram(io, c => { code = c })
  if (argv.length <= 2) {
    io.stdout(program.helpInformation())
    return EXIT_USAGE
  }
  try {
    await program.parseAsync([...argv])
    return code
  } catch (err) {
    return reportError(err, io)
  }
}

function reportError (err: unknown, io: CliIO): number {
  if (err instanceof CommanderError) {
    // commander has printed its message already; help and --version are not failures.
    return err.code === 'commander.helpDisplayed' || err.code === 'commander.help' || err.code === 'commander.version'
      ? EXIT_OK
      : EXIT_USAGE
  }
  const message = err instanceof Error ? err.message : String(err)
  io.stderr(`${message.split('\n')[0]}\n`)
  // By name: importing ConfigError's module (yaml, zod, networkdb config) for instanceof would
  // load it into every command.
  if (err instanceof Error && err.name === 'ConfigError') return EXIT_USAGE
  if (err instanceof AgentUnavailableError) return EXIT_UNAVAILABLE
  // ApiError (the agent's libnetwork error), ClusterKeyError, and anything unexpected.
  return EXIT_FAILED
}
