/**
 * `npm start`: a local multi-host ovnet cluster in one command (needs root).
 *
 *   1. a netns lab of N hosts (default 3) on one underlay bridge;
 *   2. a cluster key, and one `ovnet agent` per host namespace, every agent seeded with the others;
 *   3. a network created on the first host (visible everywhere), two containers attached per host,
 *      the ping matrix across hosts, and `ovnet network inspect --verbose`;
 *      egress: every container pings the lab's outside host (on the underlay, no cluster host);
 *   4. Ctrl-C: agents get SIGTERM (graceful leave), then the lab is removed.
 *      `--keep` leaves everything running; `npm run lab -- down` removes it later.
 *
 * Agent logs (JSON lines) and state: /run/ovnet-lab/<prefix>/<host>/.
 */
import { Command } from 'commander'
import { ApiClient } from '../../agent/index.js'
import { LabAgents } from './agents.js'
import { execIn, execOk } from './netns.js'
import { formatPingMatrix, pingMatrix, type PingTarget } from './ping-matrix.js'
import {
  createContainer, createLab, DEFAULT_PREFIX, destroyLab, labNamespaces, MAX_HOSTS, type Lab
} from './topology.js'

const say = (s: string): void => { process.stdout.write(s + '\n') }

async function checkHost (): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('the demo creates network namespaces: run it as root')
  for (const tool of ['ip', 'ping', 'iptables-restore']) {
    try {
      await execOk('sh', ['-c', `command -v ${tool}`])
    } catch {
      throw new Error(`${tool} is missing: run \`bash scripts/setup-host.sh\` (installs iproute2, iptables, iputils-ping)`)
    }
  }
}

/** The demo proper: a network, two containers per host, the ping matrix, inspect --verbose. */
async function showNetwork (lab: Lab, la: LabAgents): Promise<void> {
  const agents = la.agents
  await la.waitMembers()
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
  await showEgress(lab, targets)
}

/** Egress: every container pings the outside host through its own host (masqueraded there). */
async function showEgress (lab: Lab, targets: readonly PingTarget[]): Promise<void> {
  const out = lab.outside
  if (out === undefined) return
  say(`\negress: ping the outside host ${out.ip} (${out.ns}, on the underlay, not a cluster host):`)
  const rows = await Promise.all(targets.map(async t => {
    const r = await execIn(t.ns, 'ping', ['-c', '1', '-W', '2', out.ip])
    return { t, ok: r.code === 0, rtt: /time=([\d.]+ ms)/.exec(r.stdout)?.[1] }
  }))
  for (const r of rows) say(`  ${r.t.name.padEnd(8)} -> ${out.ip}: ${r.ok ? `ok (${r.rtt ?? '?'})` : 'FAILED'}`)
  if (!rows.every(r => r.ok)) throw new Error('some containers cannot reach the outside host (egress)')
  say('every container reaches the outside through its own host, masqueraded to the host\'s address')
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

  const lab = await createLab({ hosts: o.hosts, prefix: o.prefix, outside: true })
  const la = new LabAgents(lab)
  const agents = la.agents
  let tearingDown = false
  const teardown = async (): Promise<void> => {
    if (tearingDown) return
    tearingDown = true
    say('\nstopping the agents (graceful leave) and removing the lab …')
    await la.stopAll()
    await destroyLab(lab.prefix)
    say('done')
  }

  try {
    say(`lab "${lab.prefix}": ${lab.hosts.map(h => `${h.name}=${h.ip}`).join(' ')}`)
    await la.start()
    say(`agents ready: ${agents.map(a => a.host.name).join(', ')}`)

    await showNetwork(lab, la)
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
