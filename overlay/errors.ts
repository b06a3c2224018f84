/** Errors of the overlay driver beyond driverapi's generic ones. */
import { DriverError } from './driverapi.js'

/** createNetwork for a network the driver already has. */
export class NetworkExistsError extends DriverError {
  override readonly kind = 'forbidden'
  constructor (readonly nid: string) { super(`network ${nid} already exists`) }
}

/** A requested VNI is held by another network's winning claim. */
export class VniInUseError extends DriverError {
  override readonly kind = 'forbidden'
  constructor (readonly vni: number, readonly holder: string) {
    super(`vxlan id ${vni} is already in use by network ${holder}`)
  }
}

/** No free VNI in the allocation range. */
export class VniExhaustedError extends DriverError {
  override readonly kind = 'unavailable'
  constructor (readonly range: readonly [number, number]) { super(`no free vxlan id in ${range[0]}-${range[1]}`) }
}

/** Claims kept losing to concurrent claims of other nodes. */
export class VniConflictError extends DriverError {
  override readonly kind = 'unavailable'
  constructor (readonly nid: string, readonly attempts: number) {
    super(`could not claim a vxlan id for network ${nid} after ${attempts} attempts`)
  }
}

/** The network has no VNI: neither the vxlanid_list option nor a cluster claim. */
export class NoVniError extends DriverError {
  override readonly kind = 'badRequest'
  constructor (readonly nid: string) { super(`no vxlan id allocated for network ${nid}`) }
}
