/**
 * NetworkDB configuration: one object, every default with its reason. Times are in ms.
 */
export interface NetworkDBConfig {
  /** Probe one member (round robin) this often. SWIM detects a failure in ~1.6 periods. */
  probeIntervalMs: number
  /** A direct or indirect probe not answered within this is a miss (LAN RTTs are < 1 ms). */
  probeTimeoutMs: number
  /** Members asked to probe on our behalf before suspecting (memberlist's default is 3). */
  indirectChecks: number
  /**
   * Suspect -> failed after this, unless the node refutes. Default detection of a killed node:
   * the connection drop triggers a probe at once, so ~probe timeout x 2 + this ≈ 1.6 s; a silent
   * host is found by the round robin within ~probe interval more. Docker needs 5.6–7 s.
   */
  suspicionTimeoutMs: number
  /** Re-dial failed members this often so a healed partition merges (Docker: 1 s). */
  reconnectIntervalMs: number
  /**
   * Hang up on a member still failed after this long: its connection may be dead (a partition),
   * and TCP would resume it after the heal only at its next retransmission (back-off up to 2 min);
   * the re-dial then opens a fresh one. Not at once: a false suspicion is refuted within seconds.
   */
  failedHangupMs: number
  /** Full cluster-state exchange with one random member (repairs lost node/network events). */
  pushPullIntervalMs: number
  /** Table anti-entropy with one random peer of each network; cheap when digests match. */
  bulkSyncIntervalMs: number
  /** Deleted entries are kept this long so a late or partitioned node learns of the delete (Docker: 30 min). */
  tombstoneTtlMs: number
  /** Reap tombstones and expired hidden entries this often (Docker: 5 s). */
  reapIntervalMs: number
  /** Entries of a failed node are hidden, and restored if it comes back within this (Docker: 30 min). */
  failedEntryRetentionMs: number
  /** Failed and left members are forgotten after this (Docker: 24 h). */
  forgetMemberAfterMs: number
  /** Request timeout for sync and push-pull exchanges. */
  requestTimeoutMs: number
  /** How long `join()` keeps retrying the seeds. */
  joinTimeoutMs: number
  /** Delay before retrying the seeds. */
  joinRetryMs: number
  /** Coalesce local table writes of this window into one gossip message per network. */
  gossipFlushMs: number
}

export const defaultConfig: Readonly<NetworkDBConfig> = Object.freeze({
  probeIntervalMs: 500,
  probeTimeoutMs: 300,
  indirectChecks: 3,
  suspicionTimeoutMs: 1000,
  reconnectIntervalMs: 1000,
  failedHangupMs: 10_000,
  pushPullIntervalMs: 30_000,
  bulkSyncIntervalMs: 15_000,
  tombstoneTtlMs: 30 * 60_000,
  reapIntervalMs: 5_000,
  failedEntryRetentionMs: 30 * 60_000,
  forgetMemberAfterMs: 24 * 3600_000,
  requestTimeoutMs: 5_000,
  joinTimeoutMs: 30_000,
  joinRetryMs: 500,
  gossipFlushMs: 0
})

/** Merge user overrides over the defaults, rejecting nonsense with a clear message. */
export function resolveConfig (overrides: Partial<NetworkDBConfig> = {}): NetworkDBConfig {
  const cfg: NetworkDBConfig = { ...defaultConfig, ...overrides }
  for (const [k, v] of Object.entries(cfg)) {
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
      throw new RangeError(`networkdb config ${k} must be a non-negative number, got ${String(v)}`)
    }
  }
  if (cfg.probeTimeoutMs >= cfg.probeIntervalMs) {
    throw new RangeError('networkdb config probeTimeoutMs must be below probeIntervalMs')
  }
  return cfg
}
