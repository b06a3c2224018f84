/**
 * The real controller on an in-memory cluster, for fast deterministic tests: N hosts, each with
 * NetworkDB from the memory cluster (fake clock), the cluster IPAM on a memory store, the overlay
 * driver on the memory dataplane and the agent's local state in a temp dir. Hosts can be stopped
 * gracefully (the agent's own order: detach, IPAM handover, NetworkDB leave) and started again on
 * the same stores, as `ovnet` does across a SIGTERM.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Controller } from '../../agent/controller.js'
import { clusterIpamPort } from '../../agent/ipam-port.js'
import { LocalState } from '../../agent/local-state.js'
import { ClusterIpam, MemoryIpamStore } from '../../ipam/index.js'
import {
  createMemoryCluster, driven, type MemoryCluster, type MemoryClusterOptions, type NetworkDBNode
} from '../../networkdb/index.js'
import { silentLogger } from '../../core/index.js'
import { MemoryDataplane, OverlayDriver, TableGlue } from '../../overlay/index.js'
import type { EgressPort } from '../../agent/egress/index.js'
import type { DnsPort } from '../../agent/dns/index.js'

export interface StackHost {
  db: NetworkDBNode
  ipam: ClusterIpam
  driver: OverlayDriver
  controller: Controller
}

export interface ControllerStack {
  c: MemoryCluster
  /** hosts[i] is undefined while host i is stopped. */
  hosts: Array<StackHost | undefined>
  host(i: number): StackHost
  /** Run an operation to completion while advancing virtual time. */
  run<T>(fn: () => Promise<T>): Promise<T>
  /** Graceful stop of host i, as the agent's SIGTERM does it. */
  stop(i: number): Promise<void>
  /** Crash host i: no leave, no handover (the IPAM's and the agent's state stay on disk). */
  kill(i: number): Promise<void>
  /** Start host i again on its stores and local state (after stop); `seeds: false`: without joining. */
  start(i: number, opts?: { seeds?: boolean }): Promise<StackHost>
  close(): Promise<void>
}

export interface StackOptions {
  seed?: number
  cluster?: MemoryClusterOptions
  removalRetentionMs?: number
  /** An egress port per host (agent/egress), e.g. a recording fake. */
  egress?: (i: number) => EgressPort | undefined
  /** An embedded DNS per host (agent/dns), made on the host's NetworkDB and local state. */
  dns?: (i: number, db: NetworkDBNode, state: LocalState) => DnsPort | undefined
  /** The dataplane of host i (default: a new MemoryDataplane). */
  dataplane?: (i: number) => MemoryDataplane
}

export async function controllerStack (n: number, opts: StackOptions = {}): Promise<ControllerStack> {
  const dir = await mkdtemp(join(tmpdir(), 'ovnet-ctl-'))
  const c = await createMemoryCluster(n, { seed: opts.seed ?? 1, ...opts.cluster })
  const run = async <T>(fn: () => Promise<T>): Promise<T> => await driven(c.clock, fn, 5)
  const stores = Array.from({ length: n }, () => new MemoryIpamStore())
  const hosts: Array<StackHost | undefined> = []

  const make = async (i: number): Promise<StackHost> => {
    const db = c.nodes[i]!
    const ipam = new ClusterIpam({ db, store: stores[i], clock: c.clock, config: { bootstrap: i === 0 } })
    await run(async () => { await ipam.start() })
    const vtep = `192.0.2.${i + 1}` // the memory cluster's advertise address of node i
    const late: { controller?: Controller } = {}
    const driver = new OverlayDriver({ dataplane: opts.dataplane?.(i) ?? new MemoryDataplane(), nodeName: db.nodeName, vtep, db, clock: c.clock, reconcileIntervalMs: 0, vni: { held: () => late.controller?.networkVnis() ?? [] } })
    await run(async () => { await driver.start() })
    const dataDir = join(dir, `h${i}`)
    await mkdir(dataDir, { recursive: true })
    const state = await LocalState.load(dataDir)
    const controller = new Controller({
      db, driver, glue: new TableGlue(db, driver), ipam: clusterIpamPort(ipam), state, dns: opts.dns?.(i, db, state),
      health: { setPeers: () => {}, rtt: () => null }, logger: silentLogger, vtep, clock: c.clock, removalRetentionMs: opts.removalRetentionMs,
      egress: opts.egress?.(i)
    })
    late.controller = controller
    await run(async () => { await controller.start() })
    const h = { db, ipam, driver, controller }
    hosts[i] = h
    return h
  }

  for (let i = 0; i < n; i++) {
    await make(i)
    await c.advance(500) // the genesis reaches the next host before it starts
  }

  const stack: ControllerStack = {
    c,
    hosts,
    host (i) {
      const h = hosts[i]
      if (h === undefined) throw new Error(`host ${i} is stopped`)
      return h
    },
    run,
    async stop (i) {
      const h = stack.host(i)
      hosts[i] = undefined
      await run(async () => {
        await h.controller.stop()
        await h.ipam.leave()
        await h.db.leave()
      })
      await h.driver.stop()
    },
    async kill (i) {
      const h = stack.host(i)
      hosts[i] = undefined
      h.controller.stop().catch(() => {})
      await c.kill(i)
      await h.driver.stop({ keepDataplane: true })
    },
    async start (i, opts) {
      await run(async () => { await c.restart(i, opts) })
      return await make(i)
    },
    async close () {
      for (const h of hosts) {
        if (h === undefined) continue
        await run(async () => { await h.controller.stop() })
        await h.driver.stop()
        await h.ipam.close()
      }
      await c.close()
      await rm(dir, { recursive: true, force: true })
    }
  }
  return stack
}
