/** The checks of `attach --dns` made before anything is plumbed (a refused attach changes nothing). */
import type { NetworkRecord } from '../../proto/index.js'
import { BadRequestError } from '../errors.js'
import { resolvConfPath } from './resolv-conf.js'

export function checkDnsRequest (dns: object | undefined, rec: NetworkRecord, netns: string): void {
  if (dns === undefined) throw new BadRequestError('this agent has no embedded DNS: --dns cannot be served')
  if (rec.gateway === '') {
    throw new BadRequestError(`network ${rec.name} has no gateway: its resolver has no address (--dns)`)
  }
  if (resolvConfPath(netns) === undefined) {
    throw new BadRequestError(`--dns needs a namespace name (ip netns): for ${netns} the container's resolv.conf ` +
      `is its runtime's to write (point it at ${rec.gateway})`)
  }
}
