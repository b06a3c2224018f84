/**
 * `npm run chaos -- --rounds N --seed S [--hosts 5] [--target lab|ssh --hosts-file F]`
 *
 * Runs the seeded fault schedule against the local netns lab (built for the run, removed after)
 * or against real hosts over ssh (their agents must be running as the systemd unit; the run
 * leaves them running, with its networks, containers and firewall rules removed). Reports per
 * round go to --out (JSON + text); the exit code is 0 when every round passed, 1 when one failed,
 * 2 on a usage error. Needs root for the lab.
 */
import { randomBytes } from 'node:crypto'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander'
import { isKnownBug, KNOWN_BUGS, type KnownBug } from './known-bugs.js'
import { LabTarget } from './lab-target.js'
import { formatRound, formatSummary } from './report.js'
import { ChaosRun, DEFAULT_OPTIONS } from './runner.js'
import { FAULT_KINDS, formatSchedule, isFaultKind, type FaultKind } from './schedule.js'
import { loadHostsFile, SshTarget } from './ssh-target.js'
import type { ChaosTarget } from './target.js'

const say = (s: string): void => { process.stdout.write(s.endsWith('\n') ? s : s + '\n') }

function intArg (lo: number, hi: number) {
  return (v: string): number => {
    if (!/^\d+$/.test(v) || Number(v) < lo || Number(v) > hi) throw new InvalidArgumentError(`must be an integer in ${lo}-${hi}`)
    return Number(v)
  }
}

function faultsArg (v: string): FaultKind[] {
  const kinds = v.split(',').map(s => s.trim()).filter(s => s !== '')
  const bad = kinds.filter(k => !isFaultKind(k))
  if (bad.length > 0 || kinds.length === 0) throw new InvalidArgumentError(`unknown fault kind(s) ${bad.join(', ')}; known: ${FAULT_KINDS.join(', ')}`)
  return kinds as FaultKind[]
}

function avoidArg (v: string): KnownBug[] {
  if (v === 'all') return Object.keys(KNOWN_BUGS)
  const list = v.split(',').map(s => s.trim()).filter(s => s !== '')
  const bad = list.filter(b => !isKnownBug(b))
  if (bad.length > 0 || list.length === 0) throw new InvalidArgumentError(`unknown bug(s) ${bad.join(', ')}; known: ${Object.keys(KNOWN_BUGS).join(', ')}`)
  return list
}

interface CliOptions {
  rounds: number
  seed?: string
  hosts: number
  target: 'lab' | 'ssh'
  hostsFile?: string
  sshConfig?: string
  sshOption?: string[]
  sudo?: boolean
  service: string
  prefix?: string
  out?: string
  faults?: FaultKind[]
  holdMs: number
  failureTimeoutMs: number
  convergeTimeoutMs: number
  keepGoing?: boolean
  spare?: string
  avoid?: KnownBug[]
  keep?: boolean
  json?: boolean
}

export function buildProgram (): Command {
  return new Command('ovnet-chaos')
    .description('seeded fault injection against an ovnet cluster, with invariants checked after every round')
    .option('--rounds <n>', 'rounds (one fault each)', intArg(1, 100_000), 10)
    .option('--seed <s>', 'seed of the schedule (default: random, printed)')
    .option('--hosts <n>', 'lab hosts', intArg(2, 50), 5)
    .addOption(new Option('--target <t>', 'where to run').choices(['lab', 'ssh']).default('lab'))
    .option('--hosts-file <file>', 'ssh target: lines "NAME SSH-DESTINATION UNDERLAY-IP [AGENT-SOCKET]"')
    .option('--ssh-config <file>', 'ssh target: ssh -F FILE (e.g. from `vagrant ssh-config`)')
    .option('--ssh-option <opt>', 'ssh target: extra ssh -o OPTION, repeatable', (v: string, prev: string[] = []) => [...prev, v])
    .option('--sudo', 'ssh target: run remote commands with sudo -n')
    .option('--service <unit>', 'ssh target: systemd unit of the agent', 'ovnet')
    .option('--prefix <p>', 'lab name prefix (default: ch + random)')
    .option('--out <dir>', 'report directory (default: $TMPDIR/ovnet-chaos-<seed>-<time>)')
    .option('--faults <list>', `comma-separated subset of: ${FAULT_KINDS.join(', ')}`, faultsArg)
    .option('--hold-ms <ms>', 'how long each fault holds while the workload runs', intArg(500, 3_600_000), DEFAULT_OPTIONS.holdMs)
    .option('--failure-timeout-ms <ms>', 'a failed host\'s endpoints must leave every peer within this', intArg(100, 600_000), DEFAULT_OPTIONS.failureTimeoutMs)
    .option('--converge-timeout-ms <ms>', 'after a heal the cluster must converge within this', intArg(1000, 3_600_000), DEFAULT_OPTIONS.convergeTimeoutMs)
    .option('--avoid <bugs>', `steer around known bugs: "all" or a list of ${Object.keys(KNOWN_BUGS).join(', ')}`, avoidArg)
    .option('--spare <hosts>', 'comma-separated host labels never killed, stopped or taken down (e.g. h1)')
    .option('--keep-going', 'continue after a failing round')
    .option('--keep', 'lab: leave the lab and its agents running at the end (inspect, then `npm run lab -- down --prefix P`)')
    .option('--json', 'print the summary as JSON')
    .exitOverride()
}

async function makeTarget (o: CliOptions): Promise<ChaosTarget> {
  if (o.target === 'ssh') {
    if (o.hostsFile === undefined) throw new InvalidArgumentError('--target ssh needs --hosts-file')
    return new SshTarget(await loadHostsFile(o.hostsFile), {
      ...(o.sshConfig === undefined ? {} : { sshConfig: o.sshConfig }),
      sshOptions: o.sshOption ?? [],
      sudo: o.sudo === true,
      service: o.service,
      containerPrefix: `ovchaos${randomBytes(2).toString('hex')}`
    })
  }
  if (process.getuid?.() !== 0) throw new Error('the lab target creates network namespaces: run as root')
  return new LabTarget({ hosts: o.hosts, prefix: o.prefix ?? `ch${randomBytes(3).toString('hex')}` })
}

export async function main (argv: string[]): Promise<number> {
  const program = buildProgram()
  try {
    program.parse(argv)
  } catch (err) {
    if (err instanceof CommanderError) return err.code === 'commander.helpDisplayed' || err.code === 'commander.help' ? 0 : 2
    throw err
  }
  const o = program.opts<CliOptions>()
  const seed = o.seed ?? randomBytes(4).toString('hex')
  const out = o.out ?? join(tmpdir(), `ovnet-chaos-${seed}-${new Date().toISOString().replace(/[:.]/g, '-')}`)
  let target: ChaosTarget
  try {
    target = await makeTarget(o)
  } catch (err) {
    process.stderr.write(`ovnet-chaos: ${(err as Error).message}\n`)
    return err instanceof InvalidArgumentError ? 2 : 1
  }

  const spare: number[] = []
  for (const label of (o.spare ?? '').split(',').map(x => x.trim()).filter(x => x !== '')) {
    const h = target.hosts.find(x => x.label === label)
    if (h === undefined) { process.stderr.write(`ovnet-chaos: --spare: no host "${label}" (hosts: ${target.hosts.map(x => x.label).join(', ')})\n`); return 2 }
    spare.push(h.index)
  }
  const run = new ChaosRun(target, {
    ...DEFAULT_OPTIONS,
    seed,
    rounds: o.rounds,
    kinds: o.faults,
    holdMs: o.holdMs,
    failureTimeoutMs: o.failureTimeoutMs,
    convergeTimeoutMs: o.convergeTimeoutMs,
    keepGoing: o.keepGoing === true,
    avoid: o.avoid ?? [],
    spare,
    outDir: out,
    log: say,
    onRound: r => { say(formatRound(r)) }
  })
  say(`ovnet-chaos: seed ${seed}, ${o.rounds} rounds on ${target.kind} (${target.hosts.length} hosts); reports in ${out}`)
  say(formatSchedule(run.schedule, i => target.hosts[i]!.label))
  for (const b of o.avoid ?? []) say(`avoiding known bug ${b}: ${KNOWN_BUGS[b]}`)

  let stopping = false
  const onSignal = (): void => {
    if (stopping) process.exit(130)
    stopping = true
    say('interrupted: cleaning up (again to exit at once)')
    void finish().then(() => process.exit(130))
  }
  let finished: Promise<void> | undefined
  const finish = (): Promise<void> => (finished ??= (async () => {
    if (target.kind === 'ssh') await run.cleanup().catch((err: unknown) => { say(`cleanup: ${String(err)}`) })
    if (o.keep === true && target instanceof LabTarget) {
      target.release()
      say(`left running (--keep); remove with: npm run lab -- down --prefix ${target.prefix}`)
      return
    }
    await target.teardown().catch((err: unknown) => { say(`teardown: ${String(err)}`) })
  })())
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)

  try {
    await target.setup()
    const summary = await run.run()
    say(o.json === true ? JSON.stringify(summary, null, 2) : formatSummary(summary))
    return summary.ok ? 0 : 1
  } catch (err) {
    process.stderr.write(`ovnet-chaos: ${(err as Error).stack ?? String(err)}\n`)
    return 1
  } finally {
    await finish()
  }
}

process.exitCode = await main(process.argv)
