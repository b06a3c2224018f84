/**
 * `lab` — bring the netns lab up, down, or show it (needs root).
 *
 *   node --import tsx deploy/lab/lab.ts up [--hosts N] [--prefix P]
 *   node --import tsx deploy/lab/lab.ts down [--prefix P]
 *   node --import tsx deploy/lab/lab.ts status [--prefix P] [--json]
 *
 * `down` also removes a lab left behind by a crashed demo or test run, agents included.
 */
import { Command, CommanderError, InvalidArgumentError } from 'commander'
import { table } from '../../agent/index.js'
import {
  createLab, DEFAULT_PREFIX, destroyLab, labStatus, MAX_HOSTS, UNDERLAY_NET, UNDERLAY_PREFIX_LEN
} from './topology.js'

function hostsArg (v: string): number {
  const n = Number(v)
  if (!/^\d+$/.test(v) || n < 1 || n > MAX_HOSTS) throw new InvalidArgumentError(`must be 1-${MAX_HOSTS}`)
  return n
}

function requireRoot (): void {
  if (process.getuid?.() !== 0) throw new Error('the lab creates network namespaces: run it as root')
}

const program = new Command('lab')
  .description('the ovnet netns lab: hosts as network namespaces on one underlay bridge')
  .exitOverride()

program.command('up').description('create the lab (fails if one with this prefix exists)')
  .option('--hosts <n>', 'number of hosts', hostsArg, 3)
  .option('--prefix <p>', 'name prefix of every namespace', DEFAULT_PREFIX)
  .option('--outside', 'add <prefix>-outside, a server on the underlay that is no cluster host (egress)')
  .action(async (o: { hosts: number, prefix: string, outside?: boolean }) => {
    requireRoot()
    const lab = await createLab({ hosts: o.hosts, prefix: o.prefix, outside: o.outside === true })
    process.stdout.write(`lab "${lab.prefix}" up: underlay ${UNDERLAY_NET}.0/${UNDERLAY_PREFIX_LEN} on ${lab.underlayNs}\n`)
    process.stdout.write(table(['HOST', 'NAMESPACE', 'UNDERLAY IP'], [...lab.hosts.map(h => [h.name, h.ns, h.ip]), ...(lab.outside === undefined ? [] : [['outside', lab.outside.ns, lab.outside.ip]])]))
    process.stdout.write(`\nrun a command on a host:  ip netns exec ${lab.hosts[0]!.ns} <command>\nremove it:                lab down --prefix ${lab.prefix}\n`)
  })

program.command('down').description('remove the lab: stop its processes, delete its namespaces and state')
  .option('--prefix <p>', 'name prefix of every namespace', DEFAULT_PREFIX)
  .action(async (o: { prefix: string }) => {
    requireRoot()
    const before = await labStatus(o.prefix)
    await destroyLab(o.prefix)
    process.stdout.write(before.namespaces.length === 0
      ? `no lab "${o.prefix}" found; nothing to remove\n`
      : `removed lab "${o.prefix}" (${before.namespaces.length} namespaces)\n`)
  })

program.command('status').description('show what of the lab exists')
  .option('--prefix <p>', 'name prefix of every namespace', DEFAULT_PREFIX)
  .option('--json', 'print JSON')
  .action(async (o: { prefix: string, json?: boolean }) => {
    const s = await labStatus(o.prefix)
    if (o.json === true) { process.stdout.write(JSON.stringify(s, null, 2) + '\n'); return }
    if (s.namespaces.length === 0) { process.stdout.write(`no lab "${o.prefix}"\n`); return }
    process.stdout.write(`lab "${s.prefix}": underlay ${s.underlay === undefined ? 'MISSING' : `${s.underlay.ns} (ports: ${s.underlay.bridgePorts.join(', ') || 'none'})`}\n`)
    process.stdout.write(table(['NAMESPACE', 'UNDERLAY IP', 'LINK', 'PROCESSES'],
      s.hosts.map(h => [h.ns, h.ip ?? '-', h.up ? 'up' : 'down', String(h.processes)])))
    if (s.containers.length > 0) process.stdout.write(`containers: ${s.containers.join(', ')}\n`)
  })

try {
  await program.parseAsync(process.argv)
} catch (err) {
  if (err instanceof CommanderError) {
    process.exitCode = err.code === 'commander.helpDisplayed' || err.code === 'commander.help' ? 0 : 2
  } else {
    process.stderr.write(`lab: ${(err as Error).message}\n`)
    process.exitCode = 1
  }
}
