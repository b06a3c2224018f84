/**
 * Egress (a room of the agent layer): container traffic leaving the overlay through its own
 * host's sandbox uplink, masqueraded to the host's address; internal networks without it;
 * published ports; the host firewall in ovnet's own chains. See docs/egress.md.
 */
export {
  checkPublish, LinuxEgress, type EgressEndpoint, type EgressNetwork, type EgressPort, type EgressView,
  type LinuxEgressOptions
} from './egress.js'
export { egressView } from './view.js'
export {
  ANY_IP, checkClashes, clash, formatMapping, parsePublish, PortTakenError, type PortMapping, type PortProto
} from './ports.js'
export {
  CHAIN_DNAT, CHAIN_FWD, CHAIN_POST, chainRules, checkFirewallSpec, iptables, JUMPS, parseSave, reconcileFirewall,
  restoreBatch, UPLINK_PREFIX,
  type FirewallNetwork, type FirewallSpec, type IptablesRunner, type SavedState
} from './firewall.js'
export { HOST_SIDE_IP, SANDBOX_SIDE_IP, SANDBOX_UPLINK, uplinkName } from './uplink.js'
export { run, SpawnError } from './run.js'
export { UnsafeEgressInputError } from './checks.js'
export { ensureUplink, enableSandboxForwarding, removeUplinks } from './uplink.js'
