/**
 * A real dockerd per netns-lab host, for the plugin's end-to-end test.
 *
 * Each dockerd runs in its host's network namespace, entered with `nsenter --net` (not `ip netns
 * exec`, which remounts /sys and hides the cgroup mounts dockerd needs), inside a private mount
 * namespace of its own (`unshare --mount`, everything made private) where:
 *   /run/docker/plugins  is a bind mount of the host's plugin directory, where that host's agent
 *                        puts its socket (the agent runs in the root mount namespace, so both see
 *                        the same directory, and no other dockerd sees it);
 *   /run/containerd      is a tmpfs: the supervised containerd of this dockerd, never the host's;
 *   /etc/docker          is a tmpfs: no host daemon.json applies, no key.json is written there.
 * Everything else of the daemon (data root, exec root, pid file, API socket, log) lives in the
 * lab's state directory, which `destroyLab` removes. `--iptables=false --bridge=none` keep it
 * from touching the host's firewall or creating a bridge; vfs needs no kernel storage support.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { copyFile, mkdir, readFile, symlink } from 'node:fs/promises'
import { closeSync, existsSync, openSync } from 'node:fs'
import { join } from 'node:path'
import { exec, type ExecResult, type LabHost } from '../../deploy/lab/index.js'

/** Debian's CLI matches Debian's daemon; another `docker` on PATH may be far newer. */
export const DOCKER_CLI = existsSync('/usr/bin/docker') ? '/usr/bin/docker' : 'docker'
const READY_TIMEOUT_MS = 60_000

const SCRIPT = `set -eu
mount --make-rprivate /
mkdir -p /run/docker/plugins /run/containerd /etc/docker
mount --bind "$1" /run/docker/plugins
mount -t tmpfs -o mode=0711 tmpfs /run/containerd
mount -t tmpfs -o mode=0755 tmpfs /etc/docker
exec dockerd --data-root "$2/data" --exec-root "$2/exec" --pidfile "$2/dockerd.pid" -H "unix://$2/docker.sock" \\
  --iptables=false --ip-forward=false --ip-masq=false --bridge=none --userland-proxy=false \\
  --storage-driver=vfs --shutdown-timeout=2`

export class LabDockerd {
  readonly socket: string
  readonly log: string
  /** Init pids of the containers started through `run`, killed at stop if dockerd left any. */
  private readonly containerPids = new Set<number>()
  private child: ChildProcess | undefined
  private exited: Promise<number | null> = Promise.resolve(null)

  constructor (readonly host: LabHost, readonly dir: string, readonly pluginDir: string) {
    this.socket = join(dir, 'docker.sock')
    this.log = join(dir, 'dockerd.log')
  }

  /** Start dockerd and wait until its API answers. */
  async start (): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 })
    await mkdir(this.pluginDir, { recursive: true, mode: 0o755 })
    const fd = openSync(this.log, 'a')
    const child = spawn('nsenter', [`--net=/run/netns/${this.host.ns}`, '--', 'unshare', '--mount', '--propagation', 'private', '--',
      'bash', '-c', SCRIPT, 'lab-dockerd', this.pluginDir, this.dir], {
      detached: true,
      stdio: ['ignore', fd, fd],
      env: { ...process.env, PATH: `${process.env.PATH ?? ''}:/usr/local/sbin:/usr/sbin:/sbin:/usr/bin:/bin` }
    })
    closeSync(fd)
    this.child = child
    this.exited = new Promise(resolve => child.once('exit', code => { resolve(code) }))
    let gone: number | null | undefined
    void this.exited.then(code => { gone = code })
    const until = Date.now() + READY_TIMEOUT_MS
    for (;;) {
      if (gone !== undefined) throw new Error(`dockerd on ${this.host.name} exited (${gone}): ${await this.tail()}`)
      if ((await this.cli(['version', '--format', '{{.Server.Version}}'])).code === 0) return
      if (Date.now() > until) throw new Error(`dockerd on ${this.host.name} not ready in ${READY_TIMEOUT_MS} ms: ${await this.tail()}`)
      await new Promise(resolve => setTimeout(resolve, 250))
    }
  }

  async tail (lines = 8): Promise<string> {
    return (await readFile(this.log, 'utf8').catch(() => '')).trim().split('\n').slice(-lines).join('\n')
  }

  /** Run the docker CLI against this daemon. */
  async cli (args: readonly string[]): Promise<ExecResult> {
    return await exec('env', [`DOCKER_CONFIG=${join(this.dir, 'cli')}`, DOCKER_CLI, '-H', `unix://${this.socket}`, ...args])
  }

  /** Run and require success; returns stdout trimmed. */
  async ok (args: readonly string[]): Promise<string> {
    const r = await this.cli(args)
    if (r.code !== 0) throw new Error(`docker ${args.join(' ')} on ${this.host.name} failed (${r.code}): ${r.stderr.trim()}\n${await this.tail(4)}`)
    return r.stdout.trim()
  }

  /** `docker run -d` and remember the container's init pid for the clean-up. */
  async run (args: readonly string[]): Promise<string> {
    const id = await this.ok(['run', '-d', ...args])
    const pid = Number(await this.ok(['inspect', '--format', '{{.State.Pid}}', id]))
    if (pid > 0) this.containerPids.add(pid)
    return id
  }

  /**
   * Remove every container, stop dockerd (SIGTERM, SIGKILL after 20 s), and kill any container
   * process it left behind. Never throws: it runs in after hooks.
   */
  async stop (): Promise<void> {
    const c = this.child
    if (c !== undefined && c.exitCode === null && c.signalCode === null) {
      const ids = (await this.cli(['ps', '-aq'])).stdout.split('\n').filter(s => s !== '')
      if (ids.length > 0) await this.cli(['rm', '-f', ...ids])
      c.kill('SIGTERM')
      const timer = setTimeout(() => { c.kill('SIGKILL') }, 20_000)
      await this.exited
      clearTimeout(timer)
    }
    for (const pid of this.containerPids) {
      try { process.kill(pid, 'SIGKILL') } catch { /* gone, as it should be */ }
    }
  }
}

/** A root file system with a static busybox and the applets the test uses, as a tar file. */
export async function busyboxImageTar (dir: string): Promise<string> {
  const root = join(dir, 'rootfs')
  await mkdir(join(root, 'bin'), { recursive: true })
  const busybox = ['/usr/bin/busybox', '/bin/busybox'].find(p => existsSync(p))
  if (busybox === undefined) throw new Error('busybox not found: install busybox-static (scripts/setup-host.sh)')
  const ldd = await exec('env', ['LC_ALL=C', 'ldd', busybox])
  if (!`${ldd.stdout}${ldd.stderr}`.includes('not a dynamic executable')) {
    throw new Error(`${busybox} is dynamically linked and cannot run alone in a container: install busybox-static`)
  }
  await copyFile(busybox, join(root, 'bin', 'busybox'))
  for (const applet of ['sh', 'ping', 'sleep', 'ip', 'cat', 'hostname']) await symlink('busybox', join(root, 'bin', applet))
  const tar = join(dir, 'rootfs.tar')
  const r = await exec('tar', ['-C', root, '-cf', tar, '.'])
  if (r.code !== 0) throw new Error(`tar failed: ${r.stderr}`)
  return tar
}
