/**
 * The host's egress firewall: three chains of ovnet's own, written whole in ONE iptables-restore
 * --noflush batch. A chain declared in a --noflush batch (`:CHAIN - [0:0]`) is created or emptied
 * and refilled in the same table transaction, so every write is a full reconciliation: a
 * restarted agent (kill -9) rewrites its chains to exactly the desired rules, never appending a
 * second copy. The host's own chains are never flushed: only our jumps are added (once, first)
 * or removed, found by reading `iptables-save` first.
 *
 *   filter OVNET-FWD   (FORWARD)     replies and published (DNAT) traffic into uplinks; nothing
 *                                    else enters an uplink; traffic of an uplink to any overlay
 *                                    subnet is dropped (isolation); the rest of an uplink leaves
 *   nat    OVNET-POST  (POSTROUTING) masquerade a network's subnet leaving by a non-uplink device
 *   nat    OVNET-DNAT  (PREROUTING, OUTPUT; local destinations) published ports
 */
import type { PortMapping } from './ports.js'
import { ANY_IP } from './ports.js'
import { cidr4, ipv4, port, proto } from './checks.js'
import { run, SpawnError } from './run.js'

export const CHAIN_FWD = 'OVNET-FWD'
export const CHAIN_POST = 'OVNET-POST'
export const CHAIN_DNAT = 'OVNET-DNAT'
/** Host-side uplink devices are `ovu<first 12 chars of the network id>`. */
export const UPLINK_PREFIX = 'ovu'

export interface FirewallNetwork {
  /** CIDR of a network with egress on this host. */
  subnet: string
  /** Published ports: mappings to a container address (no prefix). */
  ports: Array<PortMapping & { ctrIp: string }>
}

export interface FirewallSpec {
  /** Networks of this host with egress (internal networks are not listed). */
  networks: FirewallNetwork[]
  /** Every overlay subnet of the cluster: never reached through an uplink. */
  overlaySubnets: string[]
}

interface Jump { table: 'filter' | 'nat', chain: string, rule: string }

/** Our jumps from the built-in chains, as iptables-save prints them (the rule after `-A CHAIN `). */
export const JUMPS: readonly Jump[] = [
  { table: 'filter', chain: 'FORWARD', rule: `-j ${CHAIN_FWD}` },
  { table: 'nat', chain: 'PREROUTING', rule: `-m addrtype --dst-type LOCAL -j ${CHAIN_DNAT}` },
  { table: 'nat', chain: 'OUTPUT', rule: `! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j ${CHAIN_DNAT}` },
  { table: 'nat', chain: 'POSTROUTING', rule: `-j ${CHAIN_POST}` }
]

const OWN: Readonly<Record<'filter' | 'nat', readonly string[]>> = {
  filter: [CHAIN_FWD], nat: [CHAIN_POST, CHAIN_DNAT]
}

const up = `${UPLINK_PREFIX}+`

/** Throws UnsafeEgressInputError for any value that is not of its syntax (checks.ts). */
export function checkFirewallSpec (spec: FirewallSpec): void {
  for (const s of spec.overlaySubnets) cidr4('overlay subnet', s)
  for (const n of spec.networks) {
    cidr4('network subnet', n.subnet)
    for (const p of n.ports) {
      ipv4('host IP', p.hostIp)
      ipv4('container IP', p.ctrIp)
      port('host port', p.hostPort)
      port('container port', p.ctrPort)
      proto(p.proto)
    }
  }
}

/** The rules of our chains (`-A CHAIN ...`, as iptables-save prints them back); checks the spec first. */
export function chainRules (spec: FirewallSpec): Record<'filter' | 'nat', string[]> {
  checkFirewallSpec(spec)
  const filter = [
    `-A ${CHAIN_FWD} -o ${up} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`,
    `-A ${CHAIN_FWD} -o ${up} -m conntrack --ctstate DNAT -j ACCEPT`,
    ...[...new Set(spec.overlaySubnets)].sort().map(s => `-A ${CHAIN_FWD} -d ${s} -i ${up} -j DROP`),
    `-A ${CHAIN_FWD} -o ${up} -j DROP`,
    `-A ${CHAIN_FWD} -i ${up} -j ACCEPT`
  ]
  const nets = [...spec.networks].sort((a, b) => a.subnet.localeCompare(b.subnet))
  const nat = [
    ...nets.map(n => `-A ${CHAIN_POST} -s ${n.subnet} ! -o ${up} -j MASQUERADE`),
    ...nets.flatMap(n => n.ports)
      .sort((a, b) => a.proto.localeCompare(b.proto) || a.hostPort - b.hostPort || a.hostIp.localeCompare(b.hostIp))
      .map(p => `-A ${CHAIN_DNAT}${p.hostIp === ANY_IP ? '' : ` -d ${p.hostIp}/32`} -p ${p.proto} -m ${p.proto} ` +
        `--dport ${p.hostPort} -j DNAT --to-destination ${p.ctrIp}:${p.ctrPort}`)
  ]
  return { filter, nat }
}

/** What of ours `iptables-save` shows: jump lines per built-in chain and our chains' rules. */
export interface SavedState {
  jumps: Map<string, string[]>
  chains: Map<string, string[]>
  /** Our chains that exist (declared), even empty. */
  declared: Set<string>
}

const jumpKey = (j: Jump): string => `${j.table}/${j.chain}`

/** Parse `iptables-save` output for our jumps and chains; everything else is ignored. */
export function parseSave (text: string): SavedState {
  const out: SavedState = { jumps: new Map(), chains: new Map(), declared: new Set() }
  let table = ''
  const ours = new Set([CHAIN_FWD, CHAIN_POST, CHAIN_DNAT])
  for (const line of text.split('\n')) {
    if (line.startsWith('*')) { table = line.slice(1).trim(); continue }
    const decl = /^:(\S+) /.exec(line)
    if (decl !== null) { if (ours.has(decl[1]!)) out.declared.add(decl[1]!); continue }
    const m = /^-A (\S+) (.*)$/.exec(line)
    if (m === null) continue
    const [, chain, rule] = m as unknown as [string, string, string]
    if (ours.has(chain)) {
      out.chains.set(chain, [...(out.chains.get(chain) ?? []), line])
      continue
    }
    if (/ -j OVNET-[A-Z]+$/.test(` ${rule}`)) {
      const k = `${table}/${chain}`
      out.jumps.set(k, [...(out.jumps.get(k) ?? []), rule])
    }
  }
  return out
}

/**
 * What `iptables-save` shows of ours once a batch for `spec` went in (undefined: nothing of
 * ours): each jump once, our chains with exactly the rules of `spec`. An apply that knows the
 * last batch went in computes the next one from this instead of reading the kernel.
 */
export function writtenState (spec: FirewallSpec | undefined): SavedState {
  const out: SavedState = { jumps: new Map(), chains: new Map(), declared: new Set() }
  if (spec === undefined) return out
  const rules = chainRules(spec)
  for (const table of ['filter', 'nat'] as const) {
    for (const c of OWN[table]) {
      out.declared.add(c)
      out.chains.set(c, rules[table].filter(r => r.startsWith(`-A ${c} `)))
    }
  }
  for (const j of JUMPS) out.jumps.set(jumpKey(j), [j.rule])
  return out
}

/**
 * The restore batch bringing `saved` to `spec` (or, with spec undefined, removing everything of
 * ours): each of our jumps exactly once and first-inserted when missing, stray copies deleted, our
 * chains rewritten whole. Empty when nothing is to be done.
 */
export function restoreBatch (saved: SavedState, spec: FirewallSpec | undefined): string {
  const rules = spec === undefined ? undefined : chainRules(spec)
  const lines: string[] = []
  for (const table of ['filter', 'nat'] as const) {
    const body: string[] = []
    const declared = OWN[table].filter(c => saved.declared.has(c))
    if (rules !== undefined) {
      const same = OWN[table].every(c => {
        return saved.declared.has(c) &&
          sameRules(saved.chains.get(c) ?? [], rules[table].filter(r => r.startsWith(`-A ${c} `)))
      })
      if (!same) body.push(...OWN[table].map(c => `:${c} - [0:0]`), ...rules[table])
    }
    for (const j of JUMPS.filter(x => x.table === table)) {
      const have = saved.jumps.get(jumpKey(j)) ?? []
      const copies = have.filter(r => r === j.rule).length
      // Any other jump to our chains (an older rule form) goes too.
      for (const r of have.filter(x => x !== j.rule)) body.push(`-D ${j.chain} ${r}`)
      const keep = rules === undefined ? 0 : 1
      for (let i = keep; i < copies; i++) body.push(`-D ${j.chain} ${j.rule}`)
      if (keep === 1 && copies === 0) body.push(`-I ${j.chain} 1 ${j.rule}`)
    }
    if (rules === undefined) for (const c of declared) body.push(`-F ${c}`, `-X ${c}`)
    if (body.length > 0) lines.push(`*${table}`, ...body, 'COMMIT')
  }
  return lines.length === 0 ? '' : lines.join('\n') + '\n'
}

function sameRules (a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i])
}

/** iptables-save / iptables-restore could not be started (not installed). */
export class IptablesMissingError extends Error {
  constructor (message: string) { super(message); this.name = 'IptablesMissingError' }
}

export interface IptablesRunner {
  save(table: 'filter' | 'nat'): Promise<string>
  restore(batch: string): Promise<void>
}

/** The real iptables of the namespace the agent runs in. */
export const iptables: IptablesRunner = {
  save: async table => await runIptables('iptables-save', ['-t', table]),
  restore: async batch => { await runIptables('iptables-restore', ['-w', '5', '--noflush'], batch) }
}

async function runIptables (cmd: string, args: readonly string[], input?: string): Promise<string> {
  try {
    return await run(cmd, args, input)
  } catch (err) {
    if (err instanceof SpawnError) {
      throw new IptablesMissingError(`${err.message} (egress needs iptables: bash scripts/setup-host.sh)`)
    }
    throw err
  }
}

/** Read, then write what differs, in one batch. Returns the batch applied ('' if none was needed). */
export async function reconcileFirewall (ipt: IptablesRunner, spec: FirewallSpec | undefined): Promise<string> {
  if (spec !== undefined) checkFirewallSpec(spec) // before anything runs
  let text: string
  try {
    // Both tables at once (read-only: no lock between them).
    text = (await Promise.all([ipt.save('filter'), ipt.save('nat')])).join('\n')
  } catch (err) {
    // Without iptables there is nothing of ours to remove; only wanting rules is an error.
    if (spec === undefined && err instanceof IptablesMissingError) return ''
    throw err
  }
  const saved = parseSave(text)
  const batch = restoreBatch(saved, spec)
  if (batch !== '') await ipt.restore(batch)
  return batch
}
