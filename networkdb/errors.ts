/** Typed errors of NetworkDB's API. Messages follow libnetwork's NetworkDB where it has one. */
export class NetworkDBError extends Error {
  constructor (message: string) { super(message); this.name = new.target.name }
}

export class EntryExistsError extends NetworkDBError {
  constructor (table: string, nid: string, key: string) {
    super(`cannot create entry in table ${table} with network id ${nid} and key ${key}, already exists`)
  }
}

export class EntryNotFoundError extends NetworkDBError {
  constructor (table: string, nid: string, key: string) {
    super(`could not get entry in table ${table} with network id ${nid} and key ${key}`)
  }
}

export class NotOwnerError extends NetworkDBError {
  constructor (table: string, nid: string, key: string, owner: string) {
    super(`entry in table ${table} with network id ${nid} and key ${key} is owned by ${owner}`)
  }
}

export class NotInNetworkError extends NetworkDBError {
  constructor (nid: string) { super(`node is not part of network ${nid}`) }
}

export class InvalidArgumentError extends NetworkDBError {}

export class NotStartedError extends NetworkDBError {
  constructor () { super('networkdb is not running') }
}

export class JoinError extends NetworkDBError {}
