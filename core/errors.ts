/**
 * The one error-kind union of every layer: libnetwork's types categories (BadRequest, NotFound,
 * Forbidden, …) plus 'conflict', 'tooLarge' (413) and 'timeout'. Each layer's error classes carry a `kind` field of
 * this type; the agent's control API turns a kind into an HTTP status without knowing the classes.
 */
export type ErrorKind =
  'badRequest' | 'notFound' | 'forbidden' | 'conflict' | 'tooLarge' | 'notImplemented' | 'unavailable' | 'timeout' |
  'internal'

export const ERROR_KINDS: ReadonlySet<ErrorKind> = new Set<ErrorKind>([
  'badRequest', 'notFound', 'forbidden', 'conflict', 'tooLarge', 'notImplemented', 'unavailable', 'timeout', 'internal'
])

/** The `kind` of any error carrying a known `kind` field; 'internal' for everything else. */
export function kindOf (err: unknown): ErrorKind {
  if (typeof err === 'object' && err !== null && 'kind' in err) {
    const k = (err).kind
    if (typeof k === 'string' && ERROR_KINDS.has(k as ErrorKind)) return k as ErrorKind
  }
  return 'internal'
}
