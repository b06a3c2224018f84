/**
 * An in-memory ovnet cluster for the plugin's protocol tests: N hosts, each with the real
 * controller (NetworkDB from the memory cluster, the cluster IPAM, the overlay driver on the
 * memory dataplane) and the real plugin server on a unix socket in a temp dir. The fake clock
 * is pumped in the background while the stack runs, so real HTTP calls can wait on virtual
 * timers (VNI settling, IPAM grants). Plus a tiny client that speaks to the socket as dockerd does.
 */
import { request } from 'node:http'
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Controller } from '../../agent/controller.js'
import { startDockerPlugin, type PluginServer } from '../../agent/docker-plugin/index.js'
import { clusterIpamPort } from '../../agent/ipam-port.js'
import { LocalState } from '../../agent/local-state.js'
import { ClusterIpam, MemoryIpamStore } from '../../ipam/index.js'
import { createMemoryCluster, driven, type MemoryCluster, type NetworkDBNode } from '../../networkdb/index.js'
import { silentLogger } from '../../core/index.js'
import { MemoryDataplane, OverlayDriver, TableGlue } from '../../overlay/index.js'

export interface PluginHost {
  db: NetworkDBNode
  ipam: ClusterIpam
  dp: MemoryDataplane
  driver: OverlayDriver
  controller: Controller
  plugin: PluginServer
  socket: string
  dataDir: string
}

export interface PluginStack {
  c: MemoryCluster
  hosts: PluginHost[]
  dir: string
  /** Stop the plugin of host i and start it again on the same state (an agent restart, as far as the plugin goes). */
  restartPlugin(i: number): Promise<void>
  close(): Promise<void>
}

export async function pluginStack (n: number, seed = 1): Promise<PluginStack> {
  const dir = await mkdtemp(join(tmpdir(), 'ovnet-dkp-'))
  const c = await createMemoryCluster(n, { seed })
  const run = async <T>(fn: () => Promise<T>): Promise<T> => await driven(c.clock, fn, 5)
  const ipams: ClusterIpam[] = []
  for (let i = 0; i < n; i++) {
    const ipam = new ClusterIpam({ db: c.nodes[i]!, store: new MemoryIpamStore(), clock: c.clock, config: { bootstrap: i === 0 } })
    await run(async () => { await ipam.start() })
    ipams.push(ipam)
  }
  await c.advance(500)
  const hosts: PluginHost[] = []
  for (let i = 0; i < n; i++) {
    const db = c.nodes[i]!
    const dp = new MemoryDataplane()
    const vtep = `192.0.2.${i + 1}` // the memory cluster's advertise address of node i
    const driver = new OverlayDriver({ dataplane: dp, nodeName: db.nodeName, vtep, db, clock: c.clock, reconcileIntervalMs: 0 })
    await run(async () => { await driver.start() })
    const dataDir = join(dir, `h${i}`)
    await mkdir(dataDir, { recursive: true })
    const ipamPort = clusterIpamPort(ipams[i]!)
    const controller = new Controller({
      db, driver, glue: new TableGlue(db, driver), ipam: ipamPort, state: await LocalState.load(dataDir),
      health: { setPeers: () => {}, rtt: () => null }, logger: silentLogger, vtep
    })
    await run(async () => { await controller.start() })
    const socket = join(dir, `h${i}.sock`)
    const plugin = await startDockerPlugin({ socketPath: socket, dataDir, controller, ipam: ipamPort, logger: silentLogger })
    hosts.push({ db, ipam: ipams[i]!, dp, driver, controller, plugin, socket, dataDir })
  }

  // Virtual time runs while the stack is up: HTTP handlers await timers of the fake clock.
  let pumping = true
  const pump = (async () => {
    while (pumping) {
      await c.clock.advance(10)
      await new Promise(resolve => setImmediate(resolve))
    }
  })()

  return {
    c,
    hosts,
    dir,
    async restartPlugin (i) {
      const h = hosts[i]!
      await h.plugin.close()
      h.plugin = await startDockerPlugin({ socketPath: h.socket, dataDir: h.dataDir, controller: h.controller, ipam: clusterIpamPort(h.ipam), logger: silentLogger })
    },
    async close () {
      for (const h of hosts) await h.plugin.close()
      pumping = false
      await pump
      for (const h of hosts) {
        await run(async () => { await h.controller.stop() })
        await h.driver.stop()
        await h.ipam.close()
      }
      await c.close()
      await rm(dir, { recursive: true, force: true })
    }
  }
}

export interface PluginReply { status: number, type: string | undefined, body: unknown }

/** POST to the plugin as dockerd does: `body` an object (sent as JSON), a raw string, or nothing. */
export async function call (socket: string, path: string, body?: unknown, method = 'POST'): Promise<PluginReply> {
  const text = body === undefined ? '' : typeof body === 'string' ? body : JSON.stringify(body)
  return await new Promise((resolve, reject) => {
    const req = request({ socketPath: socket, path, method, headers: { accept: 'application/vnd.docker.plugins.v1.2+json', 'content-length': Buffer.byteLength(text) } }, res => {
      const chunks: Buffer[] = []
      res.on('data', (b: Buffer) => chunks.push(b))
      res.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8')
        let parsed: unknown = raw
        try { parsed = JSON.parse(raw) } catch { /* not JSON: keep the text */ }
        resolve({ status: res.statusCode ?? 0, type: res.headers['content-type'], body: parsed })
      })
    })
    req.on('error', reject)
    req.end(text)
  })
}

/** Call and require a 200; returns the body. */
export async function ok<T = Record<string, unknown>> (socket: string, path: string, body?: unknown): Promise<T> {
  const r = await call(socket, path, body)
  if (r.status !== 200) throw new Error(`${path} answered ${r.status}: ${JSON.stringify(r.body)}`)
  return r.body as T
}

/** Call and require a non-2xx `{Err}` reply; returns the status and the message. */
export async function err (socket: string, path: string, body?: unknown): Promise<{ status: number, message: string }> {
  const r = await call(socket, path, body)
  const b = r.body as { Err?: unknown }
  if (r.status < 400 || typeof b?.Err !== 'string' || b.Err === '') throw new Error(`${path} should have failed, answered ${r.status}: ${JSON.stringify(r.body)}`)
  return { status: r.status, message: b.Err }
}
