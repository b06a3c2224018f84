/**
 * Plain implementations of driverapi's InterfaceInfo and JoinInfo: the controller side of an
 * endpoint (what libnetwork's endpoint object records). The agent and tests hand these to a
 * driver and read back what it set.
 */
import { isIP } from 'node:net'
import {
  InvalidParameterError, type InterfaceInfo, type InterfaceNameInfo, type JoinInfo, type RouteType
} from './driverapi.js'
import type { TableEntry } from './table-glue.js'

export class EndpointInterface implements InterfaceInfo {
  private mac: string | undefined
  private addr: string | undefined
  private addr6: string | undefined
  private readonly path: string
  createdInContainer = false

  constructor (init: { mac?: string, address?: string, addressIPv6?: string, netnsPath?: string } = {}) {
    this.mac = init.mac
    this.addr = init.address
    this.addr6 = init.addressIPv6
    this.path = init.netnsPath ?? ''
  }

  setMacAddress (mac: string): void {
    if (this.mac !== undefined) {
      throw new InvalidParameterError('endpoint interface MAC address present; cannot be reset')
    }
    this.mac = mac
  }

  setIPAddress (cidr: string): void {
    const ip = cidr.split('/')[0] ?? ''
    const family = isIP(ip)
    if (family === 0) throw new InvalidParameterError(`invalid address ${cidr}`)
    if (family === 4) {
      if (this.addr !== undefined) throw new InvalidParameterError('endpoint interface IPv4 present; cannot be reset')
      this.addr = cidr
    } else {
      if (this.addr6 !== undefined) throw new InvalidParameterError('endpoint interface IPv6 present; cannot be reset')
      this.addr6 = cidr
    }
  }

  macAddress (): string | undefined { return this.mac }
  address (): string | undefined { return this.addr }
  addressIPv6 (): string | undefined { return this.addr6 }
  netnsPath (): string { return this.path }
  setCreatedInContainer (created: boolean): void { this.createdInContainer = created }
}

export interface StaticRoute { destination: string, routeType: RouteType, nextHop: string }

/** Records what a driver provides at join time. */
export class EndpointJoinInfo implements JoinInfo {
  gateway: string | undefined
  gatewayIPv6: string | undefined
  readonly routes: StaticRoute[] = []
  readonly tableEntries: TableEntry[] = []
  gatewayServiceDisabled = false
  gw4Forced = false
  gw6Forced = false
  names: { srcName: string, dstPrefix: string, dstName: string } | undefined

  interfaceName (): InterfaceNameInfo {
    return { setNames: (srcName, dstPrefix, dstName) => { this.names = { srcName, dstPrefix, dstName } } }
  }

  setGateway (ip: string): void {
    if (isIP(ip) !== 4) throw new InvalidParameterError(`invalid IPv4 gateway ${ip}`)
    this.gateway = ip
  }

  setGatewayIPv6 (ip: string): void {
    if (isIP(ip) !== 6) throw new InvalidParameterError(`invalid IPv6 gateway ${ip}`)
    this.gatewayIPv6 = ip
  }

  addStaticRoute (destination: string, routeType: RouteType, nextHop: string): void {
    this.routes.push({ destination, routeType, nextHop })
  }

  disableGatewayService (): void { this.gatewayServiceDisabled = true }
  forceGw4 (): void { this.gw4Forced = true }
  forceGw6 (): void { this.gw6Forced = true }

  addTableEntry (tableName: string, key: string, value: Uint8Array): void {
    const i = this.tableEntries.findIndex(e => e.tableName === tableName && e.key === key)
    if (i >= 0) this.tableEntries.splice(i, 1)
    this.tableEntries.push({ tableName, key, value })
  }
}
