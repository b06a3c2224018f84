/**
 * ovnet-cni ADD and DEL wall time, as a runtime sees it: a fresh `node` process per call, running
 * the COMPILED plugin (users run built JavaScript: tsx would add its own start-up), config on
 * stdin, against a real agent (2-host netns lab, real namespaces and VXLAN). Root only.
 *
 *   npm run bench:cni -- [--runs 30] [--trace]
 *
 * --trace runs the agents at debug level and prints the agent's own share of ADD and DEL (from
 * its request log); the debug logging itself slows the agent, so the headline runs go without.
 *
 * The plugin is compiled first (tsc, agent/cni/main.ts and what it imports) to a temp dir with a
 * two-line runner like the bin's. Also printed: `node -e 0` (the floor any Node plugin pays on
 * this machine) and VERSION (start-up and module loading, no agent call).
 */
import '../core/polyfill.js'
import { execFile, spawn } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { LabAgents, createContainer, createLab, destroyLab, removeContainer } from '../deploy/lab/index.js'
import { benchArgs } from './args.js'

const run = promisify(execFile)
const REPO = fileURLToPath(new URL('../', import.meta.url))
/** What bin/ovnet-cni.js does once built: run main, then exit as soon as stdout is flushed. */
const RUNNER = [
  "import { main } from './agent/cni/main.js'",
  'const code = await main(process.argv, process.env, process.stdin, process.stdout)',
  'process.stdout.write(\'\', () => { process.exit(code) })',
  ''
].join('\n')
const ARGS = benchArgs({ runs: 30 }, ['trace'])
const TRACE = ARGS.flags.has('trace')
const RUNS = ARGS.runs

function pct (xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor(p * s.length))]!
}
const line = (what: string, xs: number[]): string =>
  `${what.padEnd(26)} p50 ${pct(xs, 0.5).toFixed(1).padStart(6)} ms   p90 ${pct(xs, 0.9).toFixed(1).padStart(6)} ms   max ${Math.max(...xs).toFixed(1).padStart(6)} ms   (n=${xs.length})`

/** One process: argv, env, stdin → wall ms and exit code. */
interface Timed { ms: number, code: number | null, out: string, loadedMs: number, commandMs: number }

/** The plugin's own split (OVNET_CNI_TIMING): start-up + loading, and the command (the agent call). */
const splits = new Map<string, { loaded: number[], command: number[] }>()
function keep (what: string, t: Timed): void {
  const s = splits.get(what) ?? { loaded: [], command: [] }
  s.loaded.push(t.loadedMs)
  s.command.push(t.commandMs)
  splits.set(what, s)
}

async function timed (argv: string[], env: Record<string, string>, stdin: string): Promise<Timed> {
  const t0 = performance.now()
  return await new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { env: { PATH: process.env.PATH ?? '', OVNET_CNI_TIMING: '1', ...env }, stdio: ['pipe', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stdout.on('data', (c: Buffer) => { out += c.toString() })
    child.stderr.on('data', (c: Buffer) => { err += c.toString() })
    child.once('error', reject)
    child.once('close', code => {
      const m = /started\+loaded ([\d.]+) ms, command ([\d.]+) ms/.exec(err)
      resolve({ ms: performance.now() - t0, code, out, loadedMs: Number(m?.[1] ?? NaN), commandMs: Number(m?.[2] ?? NaN) })
    })
    child.stdin.end(stdin)
  })
}

/** The agent's own ms per attach and detach request, from its debug log (in order). */
async function agentMs (log: string): Promise<{ attach: number[], detach: number[] }> {
  const out = { attach: [] as number[], detach: [] as number[] }
  for (const l of (await readFile(log, 'utf8')).split('\n')) {
    if (!l.includes('"api request"')) continue
    const r = JSON.parse(l) as { url?: string, ms?: number, method?: string, status?: number }
    if (r.method === 'POST' && r.url?.endsWith('/attach') === true) out.attach.push(r.ms ?? 0)
    if (r.method === 'POST' && r.url?.endsWith('/detach') === true && r.status === 204) out.detach.push(r.ms ?? 0)
  }
  return out
}

async function main (): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('bench:cni needs root (network namespaces)')
  const build = await mkdtemp(join(tmpdir(), 'ovnet-cni-build-'))
  const prefix = `cb${Math.random().toString(16).slice(2, 6)}`
  let agents: LabAgents | undefined
  try {
    const tsc = join(REPO, 'node_modules', '.bin', 'tsc')
    await run(tsc, ['--ignoreConfig', '--outDir', build, '--rootDir', REPO, '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2023',
      '--types', 'node', '--skipLibCheck', '--strict', join(REPO, 'agent', 'cni', 'main.ts')], { cwd: REPO })
    const runner = join(build, 'run.mjs')
    await writeFile(runner, RUNNER)

    const lab = await createLab({ hosts: 2, prefix })
    // Debug logs carry the agent's own time per API request (api-server.ts): the plugin's share is the rest.
    agents = new LabAgents(lab, TRACE ? { extraArgs: ['--log-level', 'debug'] } : {})
    await agents.start()
    await agents.waitMembers(2)
    await agents.client(0).createNetwork({ Name: 'bench', Subnet: '10.125.0.0/24' })
    const conf = JSON.stringify({ cniVersion: '1.0.0', name: 'bench', type: 'ovnet', network: 'bench', socket: agents.agents[0]!.socket })
    // The usual case: the host already has a container in the network (its sandbox exists). The
    // first container of a network on a host also builds the sandbox: measured apart below.
    const firstNs = await createContainer(prefix, lab.hosts[0]!.name, 'first')
    const first = { CNI_CONTAINERID: 'first', CNI_NETNS: `/run/netns/${firstNs}`, CNI_IFNAME: 'eth0' }
    const firstAdd = await timed([process.execPath, runner], { ...first, CNI_COMMAND: 'ADD' }, conf)
    if (firstAdd.code !== 0) throw new Error(`ADD failed: ${firstAdd.out}`)
    const resident = await createContainer(prefix, lab.hosts[1]!.name, 'resident')
    await agents.client(1).attach('bench', { Netns: resident, Name: 'resident' })

    const floor: number[] = []
    const version: number[] = []
    const add: number[] = []
    const del: number[] = []
    const noop: number[] = []
    for (let i = 0; i < RUNS; i++) {
      floor.push((await timed([process.execPath, '-e', '0'], {}, '')).ms)
      version.push((await timed([process.execPath, runner], { CNI_COMMAND: 'VERSION' }, '{"cniVersion":"1.0.0"}')).ms)
      const ns = await createContainer(prefix, lab.hosts[0]!.name, `b${i}`)
      const env = { CNI_CONTAINERID: `bench${i}`, CNI_NETNS: `/run/netns/${ns}`, CNI_IFNAME: 'eth0', CNI_PATH: '/opt/cni/bin' }
      const a = await timed([process.execPath, runner], { ...env, CNI_COMMAND: 'ADD' }, conf)
      if (a.code !== 0) throw new Error(`ADD failed: ${a.out}`)
      add.push(a.ms)
      keep('ADD', a)
      const d = await timed([process.execPath, runner], { ...env, CNI_COMMAND: 'DEL' }, conf)
      if (d.code !== 0) throw new Error(`DEL failed: ${d.out}`)
      del.push(d.ms)
      keep('DEL', d)
      // Again: the agent has nothing to do (a lookup), so this is the plugin's and the socket's share.
      const again = await timed([process.execPath, runner], { ...env, CNI_COMMAND: 'DEL' }, conf)
      if (again.code !== 0) throw new Error(`DEL failed: ${again.out}`)
      noop.push(again.ms)
      keep('DEL again', again)
      await removeContainer(ns)
    }
    const firstDel = await timed([process.execPath, runner], { ...first, CNI_COMMAND: 'DEL' }, conf)
    const served = await agentMs(agents.agents[0]!.log)
    console.log(`ovnet-cni wall time, compiled JS, node ${process.version}, ${cpus().length} cores, load average ${loadavg().map(l => l.toFixed(1)).join(' ')}`)
    console.log(line('node -e 0 (floor)', floor))
    console.log(line('VERSION (start-up only)', version))
    console.log(line('ADD (agent up)', add))
    console.log(line('DEL', del))
    console.log(line('DEL again (nothing to do)', noop))
    for (const [what, sp] of splits) {
      console.log(`  ${what}: in the plugin process, start-up and loading p50 ${pct(sp.loaded, 0.5).toFixed(1)} ms, the command (agent call) p50 ${pct(sp.command, 0.5).toFixed(1)} ms`)
    }
    if (TRACE) {
      console.log(line('  agent share of ADD', served.attach.slice(1)))
      console.log(line('  agent share of DEL', served.detach.slice(0, -1)))
    }
    console.log(`first ADD of the network on the host (builds the sandbox): ${firstAdd.ms.toFixed(1)} ms; last DEL (removes it): ${firstDel.ms.toFixed(1)} ms`)
    console.log(`targets: ADD p50 <= 150 ms ${pct(add, 0.5) <= 150 ? 'met' : 'NOT met'}, DEL p50 <= 100 ms ${pct(del, 0.5) <= 100 ? 'met' : 'NOT met'}`)
  } finally {
    await agents?.stopAll().catch(() => {})
    await destroyLab(prefix).catch(() => {})
    await rm(build, { recursive: true, force: true })
  }
}

await main()
