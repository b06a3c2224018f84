/**
 * An endpoint in the kernel and in the tables: the driver's endpoint and join into the container
 * namespace, its peer entries (the overlay's glue) and its record in `endpoint_table`; and the
 * way back. The controller decides when; this file does the steps.
 */
import {
  decodeEndpointRecord, encodeEndpointRecord, endpointKey, ENDPOINT_TABLE, type EndpointRecord
} from '../proto/index.js'
import type { NetworkDB } from '../networkdb/index.js'
import {
  EndpointInterface, EndpointJoinInfo, HANDOFF_OPTION, IFNAME_OPTION, MTU_OPTION, OVERLAY_GLOBAL_NETWORK as GLOBAL,
  type OverlayDriver, type TableGlue
} from '../overlay/index.js'
import type { LocalEndpoint } from './local-state.js'

export interface EndpointPlumbingOptions {
  db: NetworkDB
  driver: OverlayDriver
  glue: TableGlue
  vtep: string
}

export class EndpointPlumbing {
  private readonly db: NetworkDB
  private readonly driver: OverlayDriver
  private readonly glue: TableGlue
  private readonly vtep: string

  constructor (o: EndpointPlumbingOptions) {
    this.db = o.db
    this.driver = o.driver
    this.glue = o.glue
    this.vtep = o.vtep
  }

  /** The endpoint records of a network, cluster-wide. */
  endpointsIn (nid: string): EndpointRecord[] {
    const out: EndpointRecord[] = []
    for (const e of this.db.walkTable(ENDPOINT_TABLE, GLOBAL)) {
      if (!e.key.startsWith(`${nid}/`)) continue
      try { out.push(decodeEndpointRecord(e.value)) } catch { /* counted where decoded first */ }
    }
    return out
  }

  /** Driver endpoint + join into the container netns + publication. Idempotent (restore). */
  async plumb (ep: LocalEndpoint): Promise<void> {
    await this.driver.createEndpoint(ep.nid, ep.eid, new EndpointInterface({ address: ep.address, mac: ep.mac }), {})
    const j = new EndpointJoinInfo()
    const opts: Record<string, string> = ep.handoff === undefined ? {} : { [HANDOFF_OPTION]: ep.handoff }
    if (ep.ifName !== undefined) opts[IFNAME_OPTION] = ep.ifName
    if (ep.mtu !== undefined) opts[MTU_OPTION] = String(ep.mtu)
    await this.driver.join(ep.nid, ep.eid, ep.netns, j, opts, {})
    await this.glue.publish(ep.nid, j.tableEntries)
    ep.entries = j.tableEntries.map(t => ({ table: t.tableName, key: t.key }))
    const key = endpointKey(ep.nid, ep.eid)
    const value = encodeEndpointRecord({
      nid: ep.nid, eid: ep.eid, name: ep.name, ip: ep.address, mac: ep.mac,
      node: this.db.nodeName, nodeId: this.db.nodeId, vtep: this.vtep, aliases: ep.aliases
    })
    if (this.db.getEntry(ENDPOINT_TABLE, GLOBAL, key)?.owner === this.db.nodeId) {
      await this.db.updateEntry(ENDPOINT_TABLE, GLOBAL, key, value)
    } else {
      await this.db.createEntry(ENDPOINT_TABLE, GLOBAL, key, value)
    }
  }

  async unplumb (ep: LocalEndpoint): Promise<void> {
    await this.unpublish(ep)
    await this.unplumbKernel(ep)
  }

  async unpublish (ep: LocalEndpoint): Promise<void> {
    const key = endpointKey(ep.nid, ep.eid)
    if (this.db.getEntry(ENDPOINT_TABLE, GLOBAL, key)?.owner === this.db.nodeId) {
      await this.db.deleteEntry(ENDPOINT_TABLE, GLOBAL, key)
    }
    await this.glue.withdraw(
      ep.nid, ep.entries.map(e => ({ tableName: e.table, key: e.key, value: new Uint8Array(0) }))
    )
  }

  /** The driver's leave and delete (never rejects: the driver drops what it cannot remove). */
  async unplumbKernel (ep: LocalEndpoint): Promise<void> {
    await this.driver.leave(ep.nid, ep.eid).catch(() => {})
    await this.driver.deleteEndpoint(ep.nid, ep.eid).catch(() => {})
  }
}
