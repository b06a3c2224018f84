/**
 * Typed errors of NetworkDB's API. Messages follow libnetwork's NetworkDB where it has one; each
 * carries a `kind` of core's one union, so that one reaching the control API maps to its status.
 */
import type { ErrorKind } from '../core/index.js'

export class NetworkDBError extends Error {
  readonly kind: ErrorKind = 'internal'
  constructor (message: string) { super(message); this.name = new.target.name }
}

export class EntryExistsError extends NetworkDBError {
  override readonly kind = 'conflict'
  constructor (table: string, nid: string, key: string) {
    super(`cannot create entry in table ${table} with network id ${nid} and key ${key}, already exists`)
  }
}

export class EntryNotFoundError extends NetworkDBError {
  override readonly kind = 'notFound'
  constructor (table: string, nid: string, key: string) {
    super(`could not get entry in table ${table} with network id ${nid} and key ${key}`)
  }
}

export class NotOwnerError extends NetworkDBError {
  override readonly kind = 'forbidden'
  constructor (table: string, nid: string, key: string, owner: string) {
    super(`entry in table ${table} with network id ${nid} and key ${key} is owned by ${owner}`)
  }
}

export class NotInNetworkError extends NetworkDBError {
  override readonly kind = 'notFound'
  constructor (nid: string) { super(`node is not part of network ${nid}`) }
}

export class InvalidArgumentError extends NetworkDBError {
  override readonly kind = 'badRequest'
}

export class NotStartedError extends NetworkDBError {
  override readonly kind = 'unavailable'
  constructor () { super('networkdb is not running') }
}

export class JoinError extends NetworkDBError {
  override readonly kind = 'unavailable'
}
