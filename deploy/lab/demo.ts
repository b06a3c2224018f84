/**
 * `npm start`: a local multi-host ovnet cluster in one command (needs root).
 *
 *   1. a netns lab of N hosts (default 3) on one underlay bridge;
 *   2. a cluster key, and one `ovnet agent` per host namespace, every agent seeded with the others;
 *   3. a network created on the first host (visible everywhere), two containers attached per host,
 *      the ping matrix across hosts, and `ovnet network inspect --verbose`;
 *   4. Ctrl-C: agents get SIGTERM (graceful leave), then the lab is removed.
 *      `--keep` leaves everything running; `npm run lab -- down` removes it later.
 *
 * Agent logs (JSON lines) and state: /run/ovnet-lab/<prefix>/<host>/.
 */
import { openSync, closeSync } from 'node:fs'
import { mkdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { ChildProcess } from 'node:child_process'
import { Command } from 'commander'
import { ApiClient } from '../../agent/api-client.js'
import { generateClusterKey } from '../../networkdb/cluster-key.js'
import { execOk, spawnIn } from './netns.js'
import { formatPingMatrix, pingMatrix, type PingTarget } from './ping-matrix.js'
import { createContainer, createLab, DEFAULT_PREFIX, destroyLab, labNamespaces, MAX_HOSTS, type Lab, type LabHost } from './topology.js'

const REPO = fileURLToPath(new URL('../../', import.meta.url))
const OVNET_BIN = join(REPO, 'bin', 'ovnet.js')
const CLUSTER_PORT = 7946
const AGENT_READY_TIMEOUT_MS = 60_000

interface RunningAgent { host: LabHost, child: ChildProcess, socket: string, log: string, exited: Promise<number | null> }

const say = (s: string): void => { process.stdout.write(s + '\n') }

async function checkHost (): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('the demo creates network namespaces: run it as root')
  for (const tool of ['ip', 'ping']) {
    try {
      await execOk('sh', ['-c', `command -v ${tool}`])
    } catch {
      throw new Error(`${tool} is missing: run \`bash scripts/setup-host.sh\` (installs iproute2, iptables, iputils-ping)`)
    }
  }
}

function startAgent (lab: Lab, host: LabHost, key: string): RunningAgent {
  const dir = join(lab.stateDir, host.name)
  const socket = join(dir, 'ovnet.sock')
  const log = join(dir, 'agent.log')
  // The first host founds the cluster (no seeds: it bootstraps the IPAM's address space); the
  // others join through it.
  const founder = lab.hosts[0]!
  const seeds = host === founder ? [] : [`${founder.ip}:${CLUSTER_PORT}`]
  const fd = openSync(log, 'a')
  // `ip netns exec` execs node in place, so child.pid is the agent's own pid (SIGTERM reaches it).
  // Detached with its output in a file: with --keep it outlives the demo.
  const child = spawnIn(host.ns, process.execPath, [
    OVNET_BIN, 'agent',
    '--name', host.ns,
    '--bind', `${host.ip}:${CLUSTER_PORT}`,
    '--advertise', host.ip,
    ...(seeds.length > 0 ? ['--join', seeds.join(',')] : []),
    '--cluster-key', key,
    '--data-dir', join(dir, 'data'),
    '--socket', socket
  ], { cwd: REPO, detached: true, stdio: ['ignore', fd, fd] })
  closeSync(fd)
  const exited = new Promise<number | null>(resolve => child.once('exit', code => { resolve(code) }))
  return { host, child, socket, log, exited }
}

/** Waits until every agent sees every host alive. */
async function waitMembers (agents: RunningAgent[], timeoutMs = 30_000): Promise<void> {
  const until = Date.now() + timeoutMs
  for (;;) {
    const views = await Promise.all(agents.map(async a => await new ApiClient(a.socket).members().catch(() => [])))
    if (views.every(v => v.filter(m => m.Status === 'alive').length === agents.length)) return
    if (Date.now() > until) throw new Error(`the agents did not all see each other within ${timeoutMs} ms`)
    await new Promise(resolve => setTimeout(resolve, 200))
  }
}

/** The demo proper: a network, two containers per host, the ping matrix, inspect --verbose. */
async function showNetwork (lab: Lab, agents: RunningAgent[]): Promise<void> {
  await waitMembers(agents)
  const first = new ApiClient(agents[0]!.socket)
  const { Id } = await first.createNetwork({ Name: 'demo', Subnet: '10.10.0.0/24' })
  say(`network demo created on ${agents[0]!.host.name}: ${Id.slice(0, 12)} (10.10.0.0/24)`)
  const targets: PingTarget[] = []
  for (const a of agents) {
    const client = new ApiClient(a.socket)
    // the definition travels by gossip: wait until this host knows the network
    const until = Date.now() + 10_000
    while (!(await client.listNetworks()).some(n => n.Name === 'demo')) {
      if (Date.now() > until) throw new Error(`${a.host.name} does not know network demo`)
      await new Promise(resolve => setTimeout(resolve, 100))
    }
    for (const c of ['c1', 'c2']) {
      const ns = await createContainer(lab.prefix, a.host.name, c)
      const ep = await client.attach('demo', { Netns: ns, Name: `${a.host.name}-${c}` })
      say(`  ${a.host.name}/${c}: ${ep.IPv4Address} ${ep.MacAddress}`)
      targets.push({ name: `${a.host.name}/${c}`, ns, ip: ep.IPv4Address.split('/')[0]! })
    }
  }
  // the peers' FDB entries follow by gossip within milliseconds; allow a moment on a busy machine
  let matrix = await pingMatrix(targets)
  for (let i = 0; i < 5 && ![...matrix.values()].every(row => [...row.values()].every(Boolean)); i++) {
    await new Promise(resolve => setTimeout(resolve, 1000))
    matrix = await pingMatrix(targets)
  }
  say('\nping matrix (rows ping columns):')
  say(formatPingMatrix(targets, matrix))
  const ok = [...matrix.values()].every(row => [...row.values()].every(Boolean))
  say('\nnetwork inspect demo --verbose (on ' + agents[0]!.host.name + '):')
  say(JSON.stringify([await first.inspectNetwork('demo', true)], null, 2))
  if (!ok) throw new Error('some containers cannot reach each other (see the matrix)')
  say('\nall containers reach each other across hosts')
}

/** Resolves when the agent answers on its socket; rejects with its last log lines if it exits. */
async function waitReady (a: RunningAgent): Promise<void> {
  const client = new ApiClient(a.socket, { timeoutMs: 2000 })
  const until = Date.now() + AGENT_READY_TIMEOUT_MS
  let exited: number | null | undefined
  void a.exited.then(code => { exited = code })
  for (;;) {
    if (exited !== undefined) {
      const tail = (await readFile(a.log, 'utf8').catch(() => '')).trim().split('\n').slice(-3).join('\n')
      throw new Error(`agent on ${a.host.name} exited (code ${exited}) before it was ready; last log lines:\n${tail}`)
    }
    try {
      await client.ping()
      return
    } catch {
      if (Date.now() > until) throw new Error(`agent on ${a.host.name} not ready after ${AGENT_READY_TIMEOUT_MS / 1000} s (log: ${a.log})`)
      await new Promise(resolve => setTimeout(resolve, 200))
    }
  }
}

async function stopAgents (agents: readonly RunningAgent[]): Promise<void> {
  await Promise.all(agents.map(async a => {
    if (a.child.exitCode !== null || a.child.signalCode !== null) return
    a.child.kill('SIGTERM')
    const timer = setTimeout(() => { a.child.kill('SIGKILL') }, 20_000)
    await a.exited
    clearTimeout(timer)
  }))
}

async function main (): Promise<void> {
  const program = new Command('demo')
    .option('--hosts <n>', `hosts (1-${MAX_HOSTS})`, v => Number(v), 3)
    .option('--prefix <p>', 'lab name prefix', DEFAULT_PREFIX)
    .option('--keep', 'leave the lab and the agents running on exit')
    .parse(process.argv)
  const o = program.opts<{ hosts: number, prefix: string, keep?: boolean }>()

  await checkHost()
  if ((await labNamespaces(o.prefix)).length > 0) {
    say(`removing the previous lab "${o.prefix}" first`)
    await destroyLab(o.prefix)
  }

  const lab = await createLab({ hosts: o.hosts, prefix: o.prefix })
  const agents: RunningAgent[] = []
  let tearingDown = false
  const teardown = async (): Promise<void> => {
    if (tearingDown) return
    tearingDown = true
    say('\nstopping the agents (graceful leave) and removing the lab …')
    await stopAgents(agents)
    await destroyLab(lab.prefix)
    say('done')
  }

  try {
    say(`lab "${lab.prefix}": ${lab.hosts.map(h => `${h.name}=${h.ip}`).join(' ')}`)
    await mkdir(lab.stateDir, { recursive: true, mode: 0o700 })
    const key = join(lab.stateDir, 'cluster.key')
    await generateClusterKey(key)
    for (const h of lab.hosts) {
      await mkdir(join(lab.stateDir, h.name), { recursive: true, mode: 0o700 })
      agents.push(startAgent(lab, h, key))
    }
    await Promise.all(agents.map(waitReady))
    say(`agents ready: ${agents.map(a => a.host.name).join(', ')}`)

    await showNetwork(lab, agents)
  } catch (err) {
    process.stderr.write(`demo: ${(err as Error).message}\n`)
    await teardown()
    process.exitCode = 1
    return
  }

  if (o.keep === true) {
    for (const a of agents) a.child.unref()
    say(`\nleft running (--keep). Try:\n  OVNET_SOCKET=${agents[0]!.socket} node bin/ovnet.js cluster members\n` +
      `  ip netns exec ${lab.hosts[0]!.ns} ping ${lab.hosts[lab.hosts.length - 1]!.ip}\nremove with: npm run lab -- down --prefix ${lab.prefix}`)
    return
  }

  say('\nrunning; Ctrl-C tears everything down')
  await new Promise<void>(resolve => {
    process.once('SIGINT', resolve)
    process.once('SIGTERM', resolve)
    // An agent dying on its own ends the demo too, rather than leaving a half cluster up.
    for (const a of agents) void a.exited.then(code => { if (!tearingDown) { say(`agent ${a.host.name} exited (code ${code})`); resolve() } })
  })
  await teardown()
}

await main()
