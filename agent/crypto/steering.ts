/**
 * Steering of encrypted networks' VXLAN into the WireGuard device, and the guard that keeps
 * clear VXLAN out of them. Everything is keyed on the encrypted VXLAN port (plain networks use
 * another one and are never touched):
 *
 * - Out: two policy rules for locally sent UDP to that port (`iif lo`): look up our table, whose
 *   only route is `default dev <wg>` (WireGuard's cryptokey routing picks the peer by the VTEP
 *   address; a VTEP without a peer is dropped there, with ENOKEY), then `blackhole`: if the
 *   device is gone (its process died) the frame is dropped, never sent in clear.
 * - In: raw PREROUTING jumps to our chain, which drops that port unless it arrived on the device,
 *   so a host without a peer's key cannot inject frames into an encrypted network (the vxlan
 *   socket would take them from the underlay otherwise). The device's rp_filter is off: a
 *   decrypted frame's source is the peer's underlay address, routed via eth0, and the kernel
 *   drops a frame from a device without an address under any rp_filter mode (the guard and
 *   WireGuard's allowed addresses do that check instead). `all.rp_filter` other than 0 overrides
 *   it: `installSteering` says so.
 *
 * All idempotent (a restarted agent finds its own rules and keeps one copy); `remove` undoes all.
 */
import { readFile, writeFile } from 'node:fs/promises'
import { run } from '../egress/index.js'

export const STEER_TABLE = 28534
export const STEER_PREF = 28534
export const GUARD_CHAIN = 'OVNET-WG-GUARD'

export interface SteeringSpec { device: string, port: number }

function ruleArgs (s: SteeringSpec): string[][] {
  const match = ['iif', 'lo', 'ipproto', 'udp', 'dport', String(s.port)]
  return [
    ['pref', String(STEER_PREF), ...match, 'lookup', String(STEER_TABLE)],
    ['pref', String(STEER_PREF + 1), ...match, 'blackhole']
  ]
}

async function ruleLines (): Promise<string[]> {
  return (await run('ip', ['rule', 'show'])).split('\n')
    .filter(l => l.startsWith(`${STEER_PREF}:`) || l.startsWith(`${STEER_PREF + 1}:`))
}

async function iptables (args: string[], input?: string): Promise<string> {
  return await run('iptables', ['-w', ...args], input)
}

/** Returns a warning when the host's settings defeat the steering (`all.rp_filter` set). */
export async function installSteering (s: SteeringSpec): Promise<string | undefined> {
  // Rules: ours at our prefs, rebuilt whenever they differ (another port after a config change).
  const lines = await ruleLines()
  const expected = [`dport ${s.port} lookup ${STEER_TABLE}`, `dport ${s.port} blackhole`]
  const ok = lines.length === 2 && expected.every((e, i) => lines[i]?.includes(e) === true)
  if (!ok) {
    await removeRules()
    for (const r of ruleArgs(s)) await run('ip', ['rule', 'add', ...r])
  }
  await run('ip', ['route', 'replace', 'default', 'dev', s.device, 'table', String(STEER_TABLE)])
  // Through /proc, not sysctl(8): a "." in a device name would be read as a separator there.
  await writeFile(`/proc/sys/net/ipv4/conf/${s.device}/rp_filter`, '0')
  // The guard chain, declared (created or emptied) and filled in one --noflush batch.
  await run('iptables-restore', ['-w', '--noflush'], [
    '*raw', `:${GUARD_CHAIN} - [0:0]`,
    `-A ${GUARD_CHAIN} -p udp -m udp --dport ${s.port} ! -i ${s.device} -j DROP`,
    'COMMIT', ''
  ].join('\n'))
  const jumped = await iptables(['-t', 'raw', '-C', 'PREROUTING', '-j', GUARD_CHAIN]).then(() => true, () => false)
  if (!jumped) await iptables(['-t', 'raw', '-I', 'PREROUTING', '1', '-j', GUARD_CHAIN])
  const all = (await readFile('/proc/sys/net/ipv4/conf/all/rp_filter', 'utf8').catch(() => '0')).trim()
  return all === '0'
    ? undefined
    : `net.ipv4.conf.all.rp_filter=${all} drops decrypted VXLAN on ${s.device}: ` +
      'set it to 0 (per-device values stay in force)'
}

async function removeRules (): Promise<void> {
  for (const pref of [STEER_PREF, STEER_PREF + 1]) {
    // More than one rule may sit at a pref (an older run's); delete until none is left.
    for (let i = 0; i < 8; i++) {
      if (!(await run('ip', ['rule', 'del', 'pref', String(pref)]).then(() => true, () => false))) break
    }
  }
}

/** Remove the rules, the table's route and the guard (absent parts are fine). */
export async function removeSteering (): Promise<void> {
  await removeRules()
  await run('ip', ['route', 'flush', 'table', String(STEER_TABLE)]).catch(() => {})
  while (await iptables(['-t', 'raw', '-D', 'PREROUTING', '-j', GUARD_CHAIN]).then(() => true, () => false)) {
    /* every copy */
  }
  await iptables(['-t', 'raw', '-F', GUARD_CHAIN]).catch(() => {})
  await iptables(['-t', 'raw', '-X', GUARD_CHAIN]).catch(() => {})
}
