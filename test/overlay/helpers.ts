/** Shared helpers of the overlay unit tests. */
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { FakeClock, memoryLogger, MemoryMetrics } from '../../core/index.js'
import type { NetworkDB } from '../../networkdb/index.js'
import { encodePeerRecord, PEER_TABLE } from '../../proto/index.js'
import { MemoryDataplane } from '../../overlay/dataplane-memory.js'
import type { IPAMData, NetworkInfo, ObjectType } from '../../overlay/driverapi.js'
import { OverlayDriver, type OverlayDriverOptions } from '../../overlay/driver.js'
import { EndpointInterface, EndpointJoinInfo } from '../../overlay/endpoint-info.js'
import { VXLANID_LIST } from '../../overlay/vni.js'

export const NID = 'a1b2c3d4e5f6a7b8c9d0'
export const VTEP = '192.0.2.1'
export const SANDBOX = 'ovnet-n1-a1b2c3d4e5f6'
export const IPAM: IPAMData[] = [{ addressSpace: 'GlobalDefault', pool: '10.0.0.0/24', gateway: '10.0.0.1/24' }]

export class RecordingNetworkInfo implements NetworkInfo {
  readonly tables: Array<[string, ObjectType]> = []
  tableEventRegister (tableName: string, objType: ObjectType): void { this.tables.push([tableName, objType]) }
  updateIpamConfig (): void {}
}

export interface Rig {
  driver: OverlayDriver
  dp: MemoryDataplane
  clock: FakeClock
  metrics: MemoryMetrics
  logger: ReturnType<typeof memoryLogger>
}

export function rig (opts: Partial<OverlayDriverOptions> = {}, dp = new MemoryDataplane()): Rig {
  const clock = new FakeClock()
  const metrics = new MemoryMetrics()
  const logger = memoryLogger()
  const driver = new OverlayDriver({
    dataplane: dp, nodeName: 'n1', vtep: VTEP, clock, metrics, logger, reconcileIntervalMs: 0, ...opts
  })
  return { driver, dp, clock, metrics, logger }
}

export async function createNet (d: OverlayDriver, nid = NID, vni = 4097, extra: Record<string, unknown> = {}): Promise<RecordingNetworkInfo> {
  const info = new RecordingNetworkInfo()
  await d.createNetwork(nid, { [VXLANID_LIST]: String(vni), ...extra }, info, IPAM, [])
  return info
}

/** Create and join a local endpoint; returns what the driver gave the JoinInfo. */
export async function joinLocal (d: OverlayDriver, eid: string, ip: string, nid = NID, netns = `ctr-${eid}`): Promise<EndpointJoinInfo> {
  await d.createEndpoint(nid, eid, new EndpointInterface({ address: `${ip}/24` }), {})
  const j = new EndpointJoinInfo()
  await d.join(nid, eid, netns, j, {}, {})
  return j
}

export function rec (ip: string, mac: string, vtep: string): Uint8Array {
  return encodePeerRecord({ endpointIP: `${ip}/24`, endpointMAC: mac, tunnelEndpointIP: vtep })
}

/** Deliver a peer-table event: a value creates/updates, undefined deletes. */
export function notify (d: OverlayDriver, key: string, value: Uint8Array | undefined, nid = NID): void {
  d.eventNotify(nid, PEER_TABLE, key, undefined, value)
}

export type { NetworkDB }

const execFileP = promisify(execFile)

/** A command's stdout; rejects when it fails. */
export async function sh (...argv: string[]): Promise<string> {
  return (await execFileP(argv[0]!, argv.slice(1))).stdout
}

/** A namespace standing in for a host of the kernel tests: an underlay bridge `ul` carrying `vtep`/24, up. */
export async function underlayHost (host: string, vtep: string): Promise<void> {
  await sh('ip', 'netns', 'add', host)
  await sh('ip', '-n', host, 'link', 'add', 'ul', 'type', 'bridge')
  await sh('ip', '-n', host, 'addr', 'add', `${vtep}/24`, 'dev', 'ul')
  await sh('ip', '-n', host, 'link', 'set', 'ul', 'up')
}
