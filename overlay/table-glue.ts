/**
 * Glue between NetworkDB and a global-scope driver, the part of libnetwork's controller that
 * routes table events: a driver registers tables per network (NetworkInfo.tableEventRegister)
 * and from then on every change of those tables in that network reaches
 * TableWatcher.eventNotify. NetworkDB's watch first replays existing entries as creates, so a
 * driver registering late still sees everything. Entries a driver adds at join
 * (JoinInfo.addTableEntry) are published and withdrawn here too.
 */
import {
  EntryExistsError, EntryNotFoundError, NotOwnerError, type NetworkDB, type TableEvent, type Unsubscribe
} from '../networkdb/index.js'
import { silentLogger, type Logger } from '../core/index.js'
import {
  InvalidParameterError, isValidType, type IPAMData, type NetworkInfo, type ObjectType, type TableWatcher
} from './driverapi.js'

export interface TableEntry { tableName: string, key: string, value: Uint8Array }

interface Registration { table: string, objType: ObjectType, unsubscribe: Unsubscribe }

export class TableGlue {
  /** nid -> table -> registration */
  private readonly regs = new Map<string, Map<string, Registration>>()
  private readonly log: Logger

  constructor (private readonly db: NetworkDB, private readonly watcher: TableWatcher, logger: Logger = silentLogger) {
    this.log = logger.child({ component: 'table-glue' })
  }

  /** The NetworkInfo to hand the driver's createNetwork for `nid`. */
  networkInfo (nid: string, onIpamUpdate: (ipV4Data: IPAMData[]) => void = () => {}): NetworkInfo {
    return {
      tableEventRegister: (tableName, objType) => { this.register(nid, tableName, objType) },
      updateIpamConfig: onIpamUpdate
    }
  }

  private register (nid: string, table: string, objType: ObjectType): void {
    if (table === '') throw new InvalidParameterError('empty table name')
    if (!isValidType(objType)) throw new InvalidParameterError(`invalid object type ${String(objType)}`)
    let tables = this.regs.get(nid)
    if (tables === undefined) { tables = new Map(); this.regs.set(nid, tables) }
    if (tables.has(table)) return
    // Set before watching: the watch delivers existing entries synchronously.
    const reg: Registration = { table, objType, unsubscribe: () => {} }
    tables.set(table, reg)
    reg.unsubscribe = this.db.watch(table, nid, (ev) => { this.deliver(ev) })
  }

  private deliver (ev: TableEvent): void {
    try {
      this.watcher.eventNotify(ev.nid, ev.table, ev.key, ev.prev, ev.kind === 'delete' ? undefined : ev.value)
    } catch (err) {
      // A driver bug must not break NetworkDB's delivery to other watchers.
      this.log.error({ nid: ev.nid, table: ev.table, key: ev.key, err: (err as Error).message },
        'driver eventNotify failed')
    }
  }

  /** Tables registered for `nid`, with their object types. */
  registered (nid: string): Array<{ table: string, objType: ObjectType }> {
    return [...(this.regs.get(nid)?.values() ?? [])].map(r => ({ table: r.table, objType: r.objType }))
  }

  /** Stop routing `nid`'s events (after deleteNetwork). */
  release (nid: string): void {
    for (const r of this.regs.get(nid)?.values() ?? []) r.unsubscribe()
    this.regs.delete(nid)
  }

  close (): void {
    for (const nid of [...this.regs.keys()]) this.release(nid)
  }

  /**
   * Publish entries a driver added at join. Idempotent: after a restart the entry may still be
   * ours in the cluster, so an existing one is updated.
   */
  async publish (nid: string, entries: readonly TableEntry[]): Promise<void> {
    // Writing into a network's tables needs membership of it in NetworkDB.
    if (entries.length > 0 && !this.db.networks().includes(nid)) await this.db.joinNetwork(nid)
    for (const e of entries) {
      try {
        await this.db.createEntry(e.tableName, nid, e.key, e.value)
      } catch (err) {
        if (!(err instanceof EntryExistsError)) throw err
        await this.db.updateEntry(e.tableName, nid, e.key, e.value)
      }
    }
  }

  /** Withdraw entries published at join (after leave); already gone is fine. */
  async withdraw (nid: string, entries: readonly TableEntry[]): Promise<void> {
    for (const e of entries) {
      try {
        await this.db.deleteEntry(e.tableName, nid, e.key)
      } catch (err) {
        if (err instanceof EntryNotFoundError) continue
        if (err instanceof NotOwnerError) {
          this.log.warn({ nid, table: e.tableName, key: e.key }, 'entry now owned by another node; not withdrawn')
          continue
        }
        throw err
      }
    }
  }
}
