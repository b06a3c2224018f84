/**
 * Published ports: `[HOSTIP:]HOSTPORT:CTRPORT[/tcp|/udp]` (Docker's `-p` without ranges), their
 * checks against each other and against the host (a port some process of the host listens on is
 * taken: a DNAT rule would silently steal its traffic).
 */
import { createSocket } from 'node:dgram'
import { createServer } from 'node:net'
import { Validator } from 'ip-num'
import { BadRequestError, ControllerError } from '../errors.js'

export type PortProto = 'tcp' | 'udp'

export interface PortMapping {
  /** Host address the port is published on; "0.0.0.0" for every address of the host. */
  hostIp: string
  hostPort: number
  ctrPort: number
  proto: PortProto
}

export const ANY_IP = '0.0.0.0'

/** A port that is already published (by ovnet or a process of the host). */
export class PortTakenError extends ControllerError {
  override readonly kind = 'conflict'
}

function port (text: string, spec: string): number {
  if (!/^\d{1,5}$/.test(text)) throw new BadRequestError(`invalid port "${text}" in --publish ${spec}`)
  const n = Number(text)
  if (n < 1 || n > 65535) throw new BadRequestError(`port ${n} out of range 1-65535 in --publish ${spec}`)
  return n
}

/** Parse one `[HOSTIP:]HOSTPORT:CTRPORT[/tcp|/udp]`; throws BadRequestError with the spec in it. */
export function parsePublish (spec: string): PortMapping {
  const slash = spec.lastIndexOf('/')
  const body = slash < 0 ? spec : spec.slice(0, slash)
  const proto = slash < 0 ? 'tcp' : spec.slice(slash + 1)
  if (proto !== 'tcp' && proto !== 'udp') {
    throw new BadRequestError(`invalid protocol "${proto}" in --publish ${spec} (tcp or udp)`)
  }
  const parts = body.split(':')
  if (parts.length < 2 || parts.length > 3) {
    throw new BadRequestError(`invalid --publish ${spec}: want [HOSTIP:]HOSTPORT:CTRPORT[/tcp|/udp]`)
  }
  const hostIp = parts.length === 3 ? parts[0]! : ANY_IP
  if (!isIpv4(hostIp)) throw new BadRequestError(`invalid host IP "${hostIp}" in --publish ${spec}`)
  return {
    hostIp, hostPort: port(parts[parts.length - 2]!, spec), ctrPort: port(parts[parts.length - 1]!, spec), proto
  }
}

function isIpv4 (s: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(s) && Validator.isValidIPv4String(s)[0]
}

/** Docker's notation: `198.18.0.11:8080->80/tcp`. */
export function formatMapping (m: PortMapping): string {
  return `${m.hostIp}:${m.hostPort}->${m.ctrPort}/${m.proto}`
}

/** Two mappings compete for the same host port (same protocol, same or a wildcard address). */
export function clash (a: PortMapping, b: PortMapping): boolean {
  return a.proto === b.proto && a.hostPort === b.hostPort &&
    (a.hostIp === b.hostIp || a.hostIp === ANY_IP || b.hostIp === ANY_IP)
}

/** Refuse mappings that clash with each other or with `published` (what this host has already). */
export function checkClashes (wanted: readonly PortMapping[], published: readonly PortMapping[]): void {
  for (let i = 0; i < wanted.length; i++) {
    const w = wanted[i]!
    const other = [...wanted.slice(0, i), ...published].find(p => clash(w, p))
    if (other !== undefined) {
      throw new PortTakenError(
        `port ${w.hostIp}:${w.hostPort}/${w.proto} is already published (${formatMapping(other)})`
      )
    }
  }
}

/**
 * Bind the host port for a moment: a process of the host listening on it (EADDRINUSE), or a
 * host IP that is not this host's (EADDRNOTAVAIL), is refused before anything is programmed.
 */
export async function probeHostPort (m: PortMapping): Promise<void> {
  const fail = (err: NodeJS.ErrnoException): never => {
    if (err.code === 'EADDRINUSE') {
      throw new PortTakenError(`port ${m.hostIp}:${m.hostPort}/${m.proto} is taken on this host: ${err.code}`)
    }
    if (err.code === 'EADDRNOTAVAIL') {
      throw new BadRequestError(`host IP ${m.hostIp} in --publish is not an address of this host`)
    }
    throw new BadRequestError(`cannot publish ${m.hostIp}:${m.hostPort}/${m.proto}: ${err.message}`)
  }
  if (m.proto === 'tcp') {
    const srv = createServer()
    await new Promise<void>((resolve, reject) => {
      srv.once('error', reject)
      srv.listen({ port: m.hostPort, host: m.hostIp, exclusive: true }, () => { resolve() })
    }).catch(fail)
    await new Promise<void>(resolve => { srv.close(() => { resolve() }) })
    return
  }
  const sock = createSocket({ type: 'udp4', reuseAddr: false })
  await new Promise<void>((resolve, reject) => {
    sock.once('error', reject)
    sock.bind({ port: m.hostPort, address: m.hostIp, exclusive: true }, () => { resolve() })
  }).catch((err: unknown) => { sock.close(); fail(err as NodeJS.ErrnoException) })
  await new Promise<void>(resolve => { sock.close(() => { resolve() }) })
}
