/**
 * Idle TCP peers for handshake- and login-slot tests (NBD, iSCSI): a python3
 * child (its own raised RLIMIT_NOFILE, so the test process's descriptors are
 * not spent) opens `count` connections to host:port, reads and ignores
 * whatever the server sends (an NBD greeting; an iSCSI target sends nothing
 * first), sends nothing, and
 * — like an attacker — reconnects every connection the server closes, up to
 * `maxReconnects` in all. It stops by itself after `holdSeconds`, or when
 * its stdin closes, and closes every socket it holds.
 *
 * Lines on stdout: "open N" once all N first connections are up, "done
 * opened=A closed_by_server=B" at the end.
 */
import { spawn, type ChildProcess } from 'node:child_process';

const SCRIPT = String.raw`
import resource, selectors, socket, sys, time
host, port, count, hold, max_reconnects = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
want = count + 64
if soft < want:
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
sel = selectors.DefaultSelector()
opened = 0
closed = 0
def connect():
    global opened
    s = socket.socket(socket.AF_INET6 if ':' in host else socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(5)
    try:
        s.connect((host, port))
    except OSError:
        s.close()
        return False
    s.setblocking(False)
    sel.register(s, selectors.EVENT_READ)
    opened += 1
    return True
for _ in range(count):
    connect()
print('open %d' % opened, flush=True)
sel.register(sys.stdin, selectors.EVENT_READ)
end = time.monotonic() + hold
reconnects = 0
running = True
while running and time.monotonic() < end:
    for key, _ in sel.select(timeout=0.2):
        if key.fileobj is sys.stdin:
            if sys.stdin.buffer.read1(1) == b'':
                running = False
            continue
        s = key.fileobj
        try:
            data = s.recv(4096)
        except OSError:
            data = b''
        if data:
            continue  # the greeting: read and ignore, never answer
        sel.unregister(s)
        s.close()
        closed += 1
        if reconnects < max_reconnects:
            reconnects += 1
            connect()
for key in list(sel.get_map().values()):
    if key.fileobj is not sys.stdin:
        key.fileobj.close()
print('done opened=%d closed_by_server=%d' % (opened, closed), flush=True)
`;

export interface IdlePeers {
  proc: ChildProcess;
  /** Connections up after the first round (resolves once all were tried). */
  opened: number;
  /** Ends the child (closing stdin) and resolves with its last line. */
  stop(): Promise<string>;
  /** Waits for the child to end by itself (holdSeconds) and resolves with its last line. */
  finished(): Promise<string>;
}

export async function holdIdlePeers(host: string, port: number, count: number, opts: { holdSeconds?: number; maxReconnects?: number } = {}): Promise<IdlePeers> {
  const proc = spawn('python3', ['-c', SCRIPT, host, String(port), String(count), String(opts.holdSeconds ?? 60), String(opts.maxReconnects ?? 0)], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  proc.stdout!.setEncoding('utf8');
  proc.stderr!.setEncoding('utf8');
  proc.stderr!.on('data', (d: string) => (err += d));
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const opened = await new Promise<number>((resolve, reject) => {
    proc.stdout!.on('data', (d: string) => {
      out += d;
      const m = /open (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    void exited.then(() => reject(new Error(`idle peers exited early: ${out}${err}`)));
  });
  return {
    proc,
    opened,
    async stop() {
      proc.stdin!.end();
      const t = setTimeout(() => proc.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(t);
      return out.trim().split('\n').pop() ?? '';
    },
    async finished() {
      await exited;
      return out.trim().split('\n').pop() ?? '';
    },
  };
}
