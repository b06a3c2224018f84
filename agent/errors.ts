/**
 * The controller's typed errors, named and worded after libnetwork's (error.go of the libnetwork
 * package), and their mapping to the control API. Every error carries a `kind` — libnetwork's
 * types categories (BadRequest, NotFound, Forbidden, …) — and the API turns the kind into an HTTP
 * status, so errors of other layers that carry the same `kind` field (the overlay driver's
 * DriverError, the IPAM's errors, NetworkDB's errors) map without the API knowing their classes.
 * The kinds are core's one union (core/errors.ts).
 */
import { kindOf, type ErrorKind } from '../core/index.js'

export { kindOf, type ErrorKind }

/**
 * HTTP status per kind. libnetwork's Forbidden errors (duplicate name, active endpoints, second
 * join) are conflicts with the current state rather than permission problems, hence 409.
 */
const STATUS_OF_KIND: Readonly<Record<ErrorKind, number>> = {
  badRequest: 400,
  notFound: 404,
  forbidden: 409,
  conflict: 409,
  tooLarge: 413,
  notImplemented: 501,
  unavailable: 503,
  timeout: 504,
  internal: 500
}

export class ControllerError extends Error {
  readonly kind: ErrorKind = 'internal'
  constructor (message: string) { super(message); this.name = new.target.name }
}

/** A request body or parameter the API rejects before it reaches the controller (types.BadRequestError). */
export class BadRequestError extends ControllerError {
  override readonly kind = 'badRequest'
}

/** ErrNoSuchNetwork: a query by name or id found nothing. */
export class ErrNoSuchNetwork extends ControllerError {
  override readonly kind = 'notFound'
  constructor (readonly network: string) { super(`network ${network} not found`) }
}

/** ErrNoSuchEndpoint: a query by name or id found nothing. */
export class ErrNoSuchEndpoint extends ControllerError {
  override readonly kind = 'notFound'
  constructor (readonly endpoint: string) { super(`endpoint ${endpoint} not found`) }
}

/**
 * A name (or id prefix) that matches several networks, as Docker's "network x is ambiguous (2 matches
 * found based on name)": two hosts that created one name at the same moment, or on both sides of a
 * partition, leave two networks of that name; their ids still tell them apart.
 */
export class AmbiguousNetworkError extends ControllerError {
  override readonly kind = 'badRequest'
  constructor (readonly network: string, readonly matches: number, by: 'name' | 'ID prefix') {
    super(`network ${network} is ambiguous (${matches} matches found based on ${by}): use the network's id`)
  }
}

/** NetworkNameError: a network with the same name already exists. */
export class NetworkNameError extends ControllerError {
  override readonly kind = 'forbidden'
  constructor (readonly network: string) { super(`network with name ${network} already exists`) }
}

/** ActiveEndpointsError: a network is deleted while endpoints remain in it (anywhere in the cluster). */
export class ActiveEndpointsError extends ControllerError {
  override readonly kind = 'forbidden'
  constructor (readonly network: string, readonly id: string) {
    super(`network ${network} id ${id} has active endpoints`)
  }
}

/** ActiveContainerError: an endpoint is deleted while a container is still joined to it. */
export class ActiveContainerError extends ControllerError {
  override readonly kind = 'forbidden'
  constructor (readonly endpoint: string, readonly id: string) {
    super(`endpoint with name ${endpoint} id ${id} has active containers`)
  }
}

/** ErrInvalidJoin: the endpoint already has a container joined. */
export class ErrInvalidJoin extends ControllerError {
  override readonly kind = 'badRequest'
  constructor () { super('a container has already joined the endpoint') }
}

/** ErrNoContainer: the endpoint has no container joined. */
export class ErrNoContainer extends ControllerError {
  override readonly kind = 'badRequest'
  constructor () { super('no container is attached to the endpoint') }
}

/** ErrInvalidName: an empty or malformed name. */
export class ErrInvalidName extends ControllerError {
  override readonly kind = 'badRequest'
  constructor (readonly value: string) { super(`invalid name: ${value}`) }
}

/** ErrInvalidID: an empty or malformed id. */
export class ErrInvalidID extends ControllerError {
  override readonly kind = 'badRequest'
  constructor (readonly value: string) { super(`invalid id: ${value}`) }
}

/** NetworkTypeError: the driver name is not known. */
export class NetworkTypeError extends ControllerError {
  override readonly kind = 'notFound'
  constructor (readonly driver: string) { super(`unknown driver "${driver}"`) }
}

/** A route this agent's controller does not provide (types.NotImplementedError). */
/** A request body over the limit (413); the connection is closed after the reply. */
export class PayloadTooLargeError extends ControllerError {
  override readonly kind = 'tooLarge'
}

export class NotImplementedError extends ControllerError {
  override readonly kind = 'notImplemented'
}

/** The body of every non-2xx control API reply. */
export interface ApiErrorBody {
  /** libnetwork's error text; the CLI prints exactly this. */
  error: string
  /** The error's class name, e.g. "ErrNoSuchNetwork", so clients can branch without parsing text. */
  type: string
}

export function httpStatusOf (err: unknown): number {
  return STATUS_OF_KIND[kindOf(err)]
}

export function errorBodyOf (err: unknown): ApiErrorBody {
  if (err instanceof Error) return { error: err.message, type: err.name }
  return { error: String(err), type: 'Error' }
}
