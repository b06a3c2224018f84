/**
 * Egress firewall benchmark on a real kernel (root): one namespace of its own, iptables-nft.
 *
 *   npm run bench:egress -- [--networks 20] [--ports 10] [--runs 10]
 *
 * One reconciliation = iptables-save of filter and nat + (when something differs) one
 * iptables-restore --noflush batch. Measured: a reconciliation that rewrites the chains (the
 * view changed by one port per network) and one that finds nothing to do (the same view again:
 * every attach, detach and the 30 s timer pay this much at least).
 */
import { randomBytes } from 'node:crypto'
import { reconcileFirewall, type FirewallSpec, type IptablesRunner } from '../agent/egress/index.js'
import { addNetns, delNetns, exec } from '../deploy/lab/index.js'
import { benchArgs } from './args.js'

const ARGS = benchArgs({ networks: 20, ports: 10, runs: 10 })

const networks = ARGS.networks
const ports = ARGS.ports
const runs = ARGS.runs
const ns = `egb${randomBytes(3).toString('hex')}`

const inNs = async (argv: string[], input?: string): Promise<string> => {
  const r = await exec('nsenter', [`--net=/run/netns/${ns}`, '--', ...argv], input)
  if (r.code !== 0) throw new Error(`${argv.join(' ')}: ${r.stderr}`)
  return r.stdout
}
const ipt: IptablesRunner = {
  save: async t => await inNs(['iptables-save', '-t', t]),
  restore: async b => { await inNs(['iptables-restore', '-w', '5', '--noflush'], b) }
}
const spec = (perNet: number): FirewallSpec => ({
  overlaySubnets: Array.from({ length: networks }, (_, i) => `10.${i}.0.0/24`),
  networks: Array.from({ length: networks }, (_, i) => ({
    subnet: `10.${i}.0.0/24`,
    ports: Array.from({ length: perNet }, (_, j) => ({ hostIp: '0.0.0.0', hostPort: 10_000 + i * 200 + j, ctrPort: 80, proto: 'tcp' as const, ctrIp: `10.${i}.0.${j + 2}` }))
  }))
})

async function time (fn: (k: number) => Promise<unknown>): Promise<{ p50: number, max: number }> {
  const t: number[] = []
  for (let k = 0; k < runs; k++) {
    const t0 = performance.now()
    await fn(k)
    t.push(performance.now() - t0)
  }
  t.sort((a, b) => a - b)
  return { p50: t[Math.floor(t.length / 2)]!, max: t[t.length - 1]! }
}

if (process.getuid?.() !== 0) throw new Error('bench:egress needs root (a network namespace of its own)')
await addNetns(ns)
try {
  const rewrite = await time(async k => await reconcileFirewall(ipt, spec(ports + (k % 2))))
  await reconcileFirewall(ipt, spec(ports))
  const noop = await time(async () => {
    if (await reconcileFirewall(ipt, spec(ports)) !== '') throw new Error('a repeated view wrote rules')
  })
  const f = (x: { p50: number, max: number }): string => `p50 ${x.p50.toFixed(1)} ms, max ${x.max.toFixed(1)} ms`
  process.stdout.write(`egress firewall, ${networks} networks x ${ports} published ports, ${runs} runs each\n`)
  process.stdout.write(`  reconcile that rewrites the chains: ${f(rewrite)}\n  reconcile with nothing to do:       ${f(noop)}\n`)
} finally {
  await delNetns(ns)
}
