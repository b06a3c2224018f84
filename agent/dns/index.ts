/** The embedded DNS room of the agent (docs/dns.md). */
export { DnsService, DNS_PORT, type DnsPort, type DnsServiceOptions } from './service.js'
export { NameTable, normalize, type NamedEndpoint, type NamedNetwork } from './names.js'
export {
  Resolver, arpaToIp, udpLimit, type Asker, type ResolverOptions, type Transport, type Upstreams
} from './resolver.js'
export { Forwarder, type ForwarderOptions } from './forwarder.js'
export { serveTcp, serveUdp, type ServeOptions, type Serving } from './server.js'
export { dnsMetrics, type DnsMetrics } from './metrics.js'
export {
  parseNameservers, resolvConfPath, resolvConfText, writeResolvConf, HostResolvers, type Upstream
} from './resolv-conf.js'
export { bindInNetns, type NetnsSockets } from './netns-bind.js'
export { aliasError, checkAliases } from './aliases.js'
export { checkDnsRequest } from './request.js'
