/**
 * `npm run bench`: blockgate vs tgtd and nbdkit in one run on one machine,
 * per-target loops vs single loop, loopback capacity, and the chunk hook.
 * Writes bench/results/<date>.md and .svg and refreshes the README's
 * results section (full runs only). Options: see bench/README.md.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { iperf3 } from './clients.js';
import { compare, type CompareResult, type SystemName } from './compare.js';
import { runChunkComparison, type ChunkResult } from './chunk.js';
import { plotSvg } from './plot.js';
import { freePort, peakRssBytes, startDaemon, stopPid } from './proc.js';
import { reportMarkdown, summaryMarkdown, type BenchReport } from './report.js';
import { runScaling, type ScalingResult } from './scaling.js';
import { summarize } from './stats.js';
import { REPO, createFilledImage, startBlockgate, startNbdkit, startTgtd, type Running } from './systems.js';
import { WORKLOADS, type Protocol } from './workloads.js';

interface Options {
  rounds: number;
  seconds: number;
  only: string[];
  protocols: Protocol[];
  skip: string[];
  dir: string;
  imageMiB: number;
  cpuProfDir: string | undefined;
  outDir: string;
  readme: boolean;
  /** Extra environment for blockgate (`--env K=V,K=V`). */
  env: Record<string, string>;
  /** A/B mode: a second blockgate ('baseline') with this environment replaces tgtd/nbdkit. */
  ab: Record<string, string> | undefined;
  /** A/B mode: take the baseline daemon from this build root (e.g. a build of the code before a change). */
  abBuild: string | undefined;
}

function envList(s: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of (s ?? '').split(',').filter(Boolean)) {
    const i = kv.indexOf('=');
    out[kv.slice(0, i)] = kv.slice(i + 1);
  }
  return out;
}

function parseOptions(argv: string[]): Options {
  const flags = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) continue;
    const [k, v] = a.includes('=') ? a.slice(2).split(/=(.*)/s) : [a.slice(2), argv[i + 1]?.startsWith('--') === false ? argv[++i] : 'true'];
    flags.set(k!, v ?? 'true');
  }
  const get = (flag: string, env: string, dflt: string): string => flags.get(flag) ?? process.env[env] ?? dflt;
  const list = (s: string): string[] => s.split(',').map((x) => x.trim()).filter(Boolean);
  const only = list(get('only', 'BENCH_ONLY', ''));
  const skip = list(get('skip', 'BENCH_SKIP', ''));
  const protocols = list(get('protocols', 'BENCH_PROTOCOLS', 'iscsi,nbd')) as Protocol[];
  const abBuild = flags.get('ab-build') ?? process.env.BENCH_AB_BUILD;
  const ab = flags.get('ab') ?? process.env.BENCH_AB ?? (abBuild ? '' : undefined);
  return {
    env: envList(flags.get('env') ?? process.env.BENCH_ENV),
    ab: ab === undefined ? undefined : envList(ab),
    abBuild,
    rounds: Number(get('rounds', 'BENCH_ROUNDS', '3')),
    seconds: Number(get('seconds', 'BENCH_SECONDS', '4')),
    only,
    protocols,
    skip,
    dir: get('dir', 'BENCH_DIR', path.join(os.tmpdir(), `blockgate-bench-${process.pid}`)),
    imageMiB: Number(get('image-mib', 'BENCH_IMAGE_MIB', '1024')),
    cpuProfDir: flags.get('cpu-prof') ?? process.env.BENCH_CPU_PROF,
    outDir: get('out', 'BENCH_OUT', path.join(REPO, 'bench/results')),
    readme: get('readme', 'BENCH_README', only.length || skip.length || protocols.length < 2 || ab ? 'false' : 'true') === 'true',
  };
}

const log = (m: string): void => console.log(`[bench ${new Date().toISOString().slice(11, 19)}] ${m}`);

function version(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).split('\n')[0]!.trim();
  } catch {
    return `${cmd}: not found`;
  }
}

function machine(): string[] {
  const cpus = os.cpus();
  return [
    `${cpus.length} × ${cpus[0]?.model ?? 'unknown CPU'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB RAM, Linux ${os.release()}`,
    `Node.js ${process.version}, UV_THREADPOOL_SIZE ${process.env.UV_THREADPOOL_SIZE ?? 'unset (blockgate sizes it: 4 + 2 per LUN)'}`,
    `tgtd ${version('tgtd', ['--version'])}, ${version('nbdkit', ['--version'])}, ${version('qemu-img', ['--version'])}, ${version('fio', ['--version'])}, ${version('iperf3', ['--version'])}`,
  ];
}

async function loopback(o: Options): Promise<BenchReport['loopback']> {
  if (o.skip.includes('loopback')) return undefined;
  const got: number[] = [];
  let command = '';
  for (let r = 0; r < o.rounds; r++) {
    const port = await freePort();
    const srv = await startDaemon('iperf3', ['-s', '-1', '--forceflush', '-p', String(port)], (l) => l.includes('Server listening'), 10_000);
    try {
      const res = await iperf3(port, o.seconds);
      got.push(res.bytesPerSecond);
      command = `iperf3 -s -1 -p ${port} & ${res.command}`;
      log(`loopback round ${r + 1}: ${(res.bytesPerSecond / 2 ** 20).toFixed(0)} MiB/s`);
    } finally {
      await stopPid(srv.pid, 2000);
    }
  }
  return { summary: summarize(got), command };
}

async function startAll(o: Options): Promise<Partial<Record<SystemName, Running>>> {
  const systems: Partial<Record<SystemName, Running>> = {};
  const image = (name: string): string => {
    const dir = path.join(o.dir, name);
    fs.mkdirSync(dir, { recursive: true });
    const file = path.join(dir, name === 'blockgate' || name === 'baseline' ? 'default.img' : 'disk.img');
    createFilledImage(file, o.imageMiB * 2 ** 20);
    return file;
  };
  log(`creating ${o.imageMiB} MiB images under ${o.dir}`);
  const bgImage = image('blockgate');
  if (o.cpuProfDir) fs.mkdirSync(o.cpuProfDir, { recursive: true });
  const env = { ...process.env, ...o.env };
  systems.blockgate = await startBlockgate({ dataDir: path.dirname(bgImage), cpuProfDir: o.cpuProfDir, env });
  if (o.ab) {
    const baseImage = image('baseline');
    systems.baseline = await startBlockgate({ dataDir: path.dirname(baseImage), env: { ...env, ...o.ab }, as: 'baseline', build: o.abBuild });
    return systems;
  }
  if (o.protocols.includes('iscsi')) {
    try {
      systems.tgtd = await startTgtd(image('tgtd'));
    } catch (err) {
      log(`tgtd not available: ${(err as Error).message}`);
    }
  }
  if (o.protocols.includes('nbd')) systems.nbdkit = await startNbdkit(image('nbdkit'), path.join(o.dir, 'nbdkit'));
  return systems;
}

async function comparison(o: Options): Promise<{ result: CompareResult; rss: BenchReport['peakRssBytes']; cmds: BenchReport['daemonCommands'] }> {
  const empty = { result: { cells: [], resources: {} }, rss: {}, cmds: {} };
  if (o.skip.includes('compare')) return empty;
  const systems = await startAll(o);
  try {
    const workloads = WORKLOADS.filter((w) => !o.only.length || o.only.includes(w.id)).map((w) => ({
      ...w,
      protocols: w.protocols.filter((p) => o.protocols.includes(p)),
    }));
    const result = await compare(systems, { rounds: o.rounds, seconds: o.seconds, workloads, log, reference: o.ab ? 'baseline' : undefined });
    const rss: BenchReport['peakRssBytes'] = {};
    const cmds: BenchReport['daemonCommands'] = {};
    for (const s of Object.values(systems)) {
      rss[s.system] = peakRssBytes(s.pid);
      cmds[s.system] = s.commands;
    }
    return { result, rss, cmds };
  } finally {
    for (const s of Object.values(systems)) await s.stop();
  }
}

async function scaling(o: Options): Promise<ScalingResult[] | string> {
  if (o.skip.includes('scaling')) return 'Skipped in this run.';
  return runScaling(path.join(o.dir, 'scaling'), o.protocols, o.rounds, o.seconds, log);
}

async function chunk(o: Options): Promise<ChunkResult> {
  if (o.skip.includes('chunk')) return { available: false, reason: 'skipped in this run' };
  return runChunkComparison(path.join(o.dir, 'chunk'), o.rounds, o.seconds, log);
}

function writeResults(o: Options, rep: BenchReport): string {
  fs.mkdirSync(o.outDir, { recursive: true });
  const partial = !o.readme;
  const kind = o.ab ? 'ab' : 'partial';
  const stamp = partial ? `${rep.date}-${new Date().toISOString().slice(11, 19).replace(/:/g, '')}-${kind}` : rep.date;
  const md = path.join(o.outDir, `${stamp}.md`);
  const svgName = `${stamp}.svg`;
  fs.writeFileSync(path.join(o.outDir, svgName), plotSvg(rep.compare.cells, `blockgate vs tgtd / nbdkit, ${rep.date}`));
  fs.writeFileSync(md, reportMarkdown(rep) + `\n![IOPS and throughput per system](${svgName})\n`);
  if (o.readme) updateReadme(rep, path.relative(REPO, path.join(o.outDir, svgName)), path.relative(REPO, md));
  return md;
}

const START = '<!-- bench:start -->';
const END = '<!-- bench:end -->';

/** Replace only the marked section of the top-level README. */
function updateReadme(rep: BenchReport, svg: string, md: string): void {
  const file = path.join(REPO, 'README.md');
  const text = fs.readFileSync(file, 'utf8');
  const body = [
    START,
    `Latest run (${rep.date}, \`${rep.invocation}\`; ${rep.machine[0]}). Full report with CPU, memory and the exact commands: [${md}](${md}); method: [bench/README.md](bench/README.md).`,
    '',
    summaryMarkdown(rep),
    '',
    `![IOPS and throughput per system](${svg})`,
    END,
  ].join('\n');
  const s = text.indexOf(START);
  const e = text.indexOf(END);
  const next = s >= 0 && e > s ? text.slice(0, s) + body + text.slice(e + END.length) : `${text.trimEnd()}\n\n## Benchmarks\n\n${body}\n`;
  fs.writeFileSync(file, next);
}

/** How this run was started, for the report. */
function invocation(): string {
  const args = process.argv.slice(2);
  if (process.env.npm_lifecycle_event === 'bench') return ['npm run bench', ...(args.length ? ['--', ...args] : [])].join(' ');
  // A private build (`tsc --outDir elsewhere`) runs the same code as dist/.
  const rel = path.relative(REPO, process.argv[1]!);
  return ['node', rel.startsWith('..') ? 'dist/bench/run.js' : rel, ...args].join(' ');
}

async function main(): Promise<void> {
  const o = parseOptions(process.argv.slice(2));
  fs.mkdirSync(o.dir, { recursive: true });
  const t0 = Date.now();
  const rep: BenchReport = {
    date: new Date().toISOString().slice(0, 10),
    machine: machine(),
    settings: `${o.rounds} rounds, ${o.seconds} s per measurement, ${o.imageMiB} MiB images on ${o.dir}.`,
    invocation: invocation(),
    compare: { cells: [], resources: {} },
    peakRssBytes: {},
    daemonCommands: {},
    scaling: 'Skipped in this run.',
    chunk: { available: false, reason: 'skipped' },
  };
  try {
    if (!o.ab) rep.loopback = await loopback(o);
    const c = await comparison(o);
    Object.assign(rep, { compare: c.result, peakRssBytes: c.rss, daemonCommands: c.cmds });
    if (!o.ab) rep.scaling = await scaling(o);
    if (!o.ab) rep.chunk = await chunk(o);
  } finally {
    if (!process.env.BENCH_KEEP) fs.rmSync(o.dir, { recursive: true, force: true });
  }
  const md = writeResults(o, rep);
  console.log('\n' + summaryMarkdown(rep));
  log(`done in ${Math.round((Date.now() - t0) / 1000)} s; report: ${md}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
