/**
 * Builds the real controller from the agent's configuration: NetworkDB over libp2p (identity and
 * store in the data dir), the global IPAM on it, the overlay driver with the Linux data plane,
 * and the controller on top. `stop()` takes them down in reverse: endpoints detached, IPAM ranges
 * handed over, a graceful NetworkDB leave, sandboxes removed, stores closed.
 */
import { networkInterfaces } from 'node:os'
import { ClusterIpam } from '../ipam/index.js'
import { LmdbIpamStore } from '../ipam/adapters.js'
import { loadClusterKey, NetworkDBNode } from '../networkdb/index.js'
import { Libp2pTransport, LmdbStore, loadOrCreateIdentity } from '../networkdb/adapters.js'
import { type Logger } from '../core/index.js'
import { LinuxDataplane, OVERLAY_GLOBAL_NETWORK, OverlayDriver, TableGlue } from '../overlay/index.js'
import type { HostPort } from './config.js'
import { Controller } from './controller.js'
import { startDockerPlugin } from './docker-plugin/index.js'
import type { AgentContext, AgentController } from './daemon.js'
import { LinuxEgress } from './egress/index.js'
import { detectMode, WireguardEncryption } from './crypto/index.js'
import { DnsService } from './dns/index.js'
import { clusterIpamPort } from './ipam-port.js'
import { LocalState } from './local-state.js'

/** The advertise address: as configured, else the bind host, else the first non-loopback IPv4. */
export function deriveAdvertise (advertise: string | undefined, bind: HostPort): string {
  if (advertise !== undefined) return advertise
  if (bind.host !== '0.0.0.0' && bind.host !== '::') return bind.host
  for (const addrs of Object.values(networkInterfaces())) {
    for (const a of addrs ?? []) if (a.family === 'IPv4' && !a.internal) return a.address
  }
  throw new Error('cannot derive the advertise address: no non-loopback IPv4 address; set --advertise')
}

export async function createRealController (ctx: AgentContext): Promise<AgentController> {
  const { config, logger, metrics } = ctx
  const log: Logger = logger
  const advertise = deriveAdvertise(config.advertise, config.bind)
  const undo: Array<() => Promise<void>> = []
  // Which WireGuard this host has: started now, awaited when the encryption is built. Without
  // kernel WireGuard the detection runs three processes in turn (ip, wireguard-go, wg) that need
  // not delay the join (issue 12: agent start -> serving).
  const wgMode = detectMode()
  const unwind = async (): Promise<void> => { for (const u of undo.reverse()) await u().catch(() => {}) }
  /** Steps started in parallel: settled before an unwind, so that what they started is undone. */
  const pending: Array<Promise<unknown>> = []
  try {
    const transport = new Libp2pTransport({
      privateKey: await loadOrCreateIdentity(config.dataDir),
      clusterKey: await loadClusterKey(config.clusterKey),
      listen: [`/ip4/${config.bind.host}/tcp/${config.bind.port}`],
      announce: [`/ip4/${advertise}/tcp/${config.bind.port}`],
      logger: log,
      metrics
    })
    const ndbStore = new LmdbStore(config.dataDir)
    const db = new NetworkDBNode({
      transport, name: config.name, advertiseAddr: advertise, logger: log, metrics, store: ndbStore,
      config: config.networkdb
    })
    await db.start()
    undo.push(async () => { await db.close() })
    if (config.join.length > 0) {
      // Not joining is no reason to stay down: NetworkDB keeps knocking on the seeds.
      await db.join(config.join.map(hp => `${hp.host}:${hp.port}`), 10_000)
        .catch((err: unknown) => { log.warn({ err: String(err) }, 'no seed answered yet; retrying in the background') })
    }
    const ipamStore = new LmdbIpamStore(config.dataDir)
    // The node started without seeds founded the cluster: it alone creates the address space
    // (joiners learn it), so a new cluster never splits its space twice.
    const ipam = new ClusterIpam({
      db, store: ipamStore, logger: log, metrics: metrics, config: { bootstrap: config.join.length === 0 }
    })
    // The overlay's global network (the encryption's and the controller's) is joined while the
    // IPAM joins its own: each join is a bulk sync with every member of the network, waiting for
    // the slowest to answer, and a late joiner of a busy cluster spent two such waits in a row.
    const globalJoined = db.joinNetwork(OVERLAY_GLOBAL_NETWORK)
    globalJoined.catch(() => {}) // awaited below, after the IPAM; not unhandled if the IPAM fails first
    const late: { controller?: Controller } = {}
    const vni = { held: () => late.controller?.networkVnis() ?? [] }
    const dataplane = new LinuxDataplane({ logger: log.child({ component: 'dataplane' }) })
    // The encryption and the driver start while the joins' bulk syncs run (issue 12: a late
    // joiner's start): both follow their tables by watching them (a watch replays what is there,
    // then every change), so they need not wait for the tables to be complete, and their start is
    // mostly waiting for processes (ip, wg) and the disk. The controller still starts after both
    // joins: once the socket answers, `network ls` and attach see the cluster's tables.
    const localStarted = (async () => {
      // Encrypted networks (agent/crypto): keys and the peer record now, the device on first use.
      const encryption = new WireguardEncryption({
        db, dataDir: config.dataDir, vtep: advertise, device: config.wgInterface, listenPort: config.wgPort,
        vxlanPort: config.encryptedVxlanPort,
        underlayMtu: async () => await dataplane.underlayMtu(advertise), logger: log, metrics, mode: await wgMode
      })
      await encryption.start()
      undo.push(async () => { await encryption.stop({ keepDataplane: true }) })
      const driver = new OverlayDriver({
        dataplane, nodeName: config.name, vtep: advertise, db, dstPort: config.vxlanPort, encryption, logger: log,
        metrics, vni
      })
      await driver.start()
      undo.push(async () => { await driver.stop({ keepDataplane: true }) })
      return { encryption, driver }
    })()
    pending.push(localStarted)
    await ipam.start()
    undo.push(async () => { await ipam.close(); await ipamStore.close() })
    await globalJoined
    const { encryption, driver } = await localStarted
    const glue = new TableGlue(db, driver, log)
    const state = await LocalState.load(config.dataDir)
    const port = clusterIpamPort(ipam)
    const egress = new LinuxEgress({ nodeName: config.name, logger: log })
    const dns = new DnsService({
      db, state, nodeName: config.name, logger: log, metrics, resolvConf: config.dnsResolvConf
    })
    const controller = new Controller({
      db, driver, glue, ipam: port, state, health: ctx.health, logger: log, vtep: advertise, egress, dns
    })
    late.controller = controller
    dns.start()
    undo.push(async () => { await dns.stop() })
    await controller.start()
    // Docker's remote plugin: after the controller is up (dockerd may call at once), closed first.
    const plugin = config.dockerPlugin === undefined
      ? undefined
      : await startDockerPlugin({
        socketPath: config.dockerPlugin, dataDir: config.dataDir, controller, ipam: port, logger: log
      })
    undo.push(async () => { await plugin?.close() })
    log.info({
      name: config.name, id: db.nodeId, advertise, addrs: transport.addresses(), dockerPlugin: config.dockerPlugin
    }, 'controller ready')
    const detachAll = controller.stop.bind(controller)
    const members = controller.members.bind(controller)
    return Object.assign(controller, {
      members: async () => (await members()).map(m => ({ ...m, Encryption: encryption.modeOf(m.ID) ?? null })),
      rotateKey: async () => ({ PublicKey: await encryption.rotate() }),
      encryption: async () => await encryption.status(),
      stop: async () => {
        await plugin?.close().catch((err: unknown) => { log.warn({ err: String(err) }, 'docker plugin close failed') })
        await detachAll()
        await dns.stop().catch((err: unknown) => { log.warn({ err: String(err) }, 'stopping the embedded DNS failed') })
        await egress.stop().catch((err: unknown) => {
          log.warn({ err: String(err) }, 'removing the egress rules failed')
        })
        await ipam.leave().catch((err: unknown) => { log.warn({ err: String(err) }, 'IPAM handover failed') })
        await ipam.close()
        await ipamStore.close()
        await db.leave()
        await driver.stop()
        await encryption.stop().catch((err: unknown) => {
          log.warn({ err: String(err) }, 'removing the WireGuard device failed')
        })
      }
    })
  } catch (err) {
    await Promise.allSettled(pending)
    await unwind()
    throw err
  }
}
