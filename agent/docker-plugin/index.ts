/**
 * The Docker remote plugin (`ovnet agent --docker-plugin [PATH]`): dockerd on this host uses
 * ovnet as a network driver and an IPAM driver named after the socket (`ovnet` for the default
 * /run/docker/plugins/ovnet.sock). See docs/docker.md.
 */
import type { Clock, Logger } from '../../core/index.js'
import { DockerIpamDriver } from './ipam-driver.js'
import { DockerNetworkDriver } from './network-driver.js'
import type { PluginController, PluginIpam } from './ports.js'
import { PluginServer, pluginRoutes } from './server.js'
import { PluginState } from './state.js'

export { DEFAULT_PLUGIN_SOCKET, NETWORK_OPTION, PLUGIN_CONTENT_TYPE } from './protocol.js'
export { handoffName, HANDOFF_PREFIX } from './network-driver.js'
export { PLUGIN_STATE_FILE } from './state.js'
export type { PluginController, PluginIpam } from './ports.js'
export { PluginServer }

export interface DockerPluginOptions {
  socketPath: string
  /** The agent's data dir: the plugin keeps its state file there. */
  dataDir: string
  controller: PluginController
  ipam: PluginIpam
  logger: Logger
  /** Timers of the plugin's waits (default: the system clock). */
  clock?: Clock
}

/** Load the plugin's state and start serving; the caller closes the returned server. */
export async function startDockerPlugin (o: DockerPluginOptions): Promise<PluginServer> {
  const logger = o.logger.child({ component: 'docker-plugin' })
  const state = await PluginState.load(o.dataDir)
  const ipam = new DockerIpamDriver({ controller: o.controller, ipam: o.ipam, state, logger, clock: o.clock })
  const net = new DockerNetworkDriver({ controller: o.controller, ipam, state, logger })
  const server = new PluginServer(pluginRoutes(ipam, net), { socketPath: o.socketPath, logger })
  await server.listen()
  return server
}
