/**
 * `npm start`: a local multi-host ovnet cluster in one command (needs root).
 *
 *   1. a netns lab of N hosts (default 3) on one underlay bridge;
 *   2. a cluster key, and one `ovnet agent` per host namespace, every agent seeded with the others;
 *   3. (TODO, lead) a network, two containers per host, the ping matrix, `inspect --verbose`;
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
import { createLab, DEFAULT_PREFIX, destroyLab, labNamespaces, MAX_HOSTS, type Lab, type LabHost } from './topology.js'

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
  const seeds = lab.hosts.filter(h => h !== host).map(h => `${h.ip}:${CLUSTER_PORT}`)
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

    // TODO(lead): the demo proper, once the controller is wired in (agent/daemon.ts SEAM):
    //   - `ovnet --socket <h1 socket> network create demo` (a network is visible on every host);
    //   - two containers per host: createContainer(lab.prefix, h.name, 'c1'|'c2') (./topology.ts),
    //     then `ovnet --socket <h socket> attach demo --netns <container ns> --json` for each,
    //     keeping the returned IPv4Address (strip the /len) per container;
    //   - pingMatrix(containers) + formatPingMatrix (./ping-matrix.ts), print it, fail if
    //     !allReachable;
    //   - print `ovnet --socket <h1 socket> network inspect demo --verbose`.
    // Run the CLI as `node bin/ovnet.js …` with the host's socket; nothing needs `ip netns exec`
    // because the sockets are files of the shared mount namespace.
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
