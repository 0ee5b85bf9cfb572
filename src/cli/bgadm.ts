/**
 * bgadm: the tgtadm-compatible admin command. A tgtadm script runs unchanged
 * with the program name replaced: same options (long, short, getopt-style
 * abbreviations), same checks and messages, same exit statuses, same show
 * layout. One command line → one typed AdminRequest → one AdminReply.
 *
 * This module only parses, checks, sends and prints; it must not import
 * targets/ or backends/.
 */
import { basename } from 'node:path';
import { Command, CommanderError } from 'commander';
import { resolveAdminSocketPath, processPathEnvironment } from '../config/paths.js';
import { parseSize } from '../config/size.js';
import { parseKv } from '../config/targets-conf.js';
import {
  DEVICE_TYPES,
  LLDS,
  type AdminMode,
  type AdminOp,
  type AdminReply,
  type AdminRequest,
  type DeviceType,
  type Lld,
  type TgtadmRequest,
} from '../mgmt/admin-protocol.js';
import { sendAdminRequest } from '../mgmt/admin-wire.js';
import { EXIT_BAD_NAME, EXIT_EINVAL, MGMT_ERRORS, type MgmtError } from '../mgmt/errors.js';
import { formatShow } from '../mgmt/show-format.js';
import { expandLongPrefixes, OPTIONS, type OptionRow } from './bgadm-options.js';
import { checkModeOp, type Values } from './bgadm-rules.js';

export const BLOCKGATE_VERSION = '0.1.0';
const REQUEST_TIMEOUT_MS = 60_000;

export interface BgadmIo {
  stdout(text: string): void;
  stderr(text: string): void;
  env: Record<string, string | undefined>;
  /** Defaults to sendAdminRequest; tests inject a fake daemon. */
  send?(socketPath: string, request: AdminRequest, timeoutMs: number): Promise<AdminReply>;
}

/** Thrown inside parsing to stop with a message and exit status. */
class Stop extends Error {
  constructor(readonly text: string, readonly status: number) {
    super(text);
  }
}

const MODE_ALIASES: Record<string, AdminMode> = {
  system: 'sys', sys: 'sys', target: 'target', tgt: 'target', logicalunit: 'logicalunit', lu: 'logicalunit',
  portal: 'portal', pt: 'portal', session: 'session', sess: 'session', connection: 'conn', conn: 'conn',
  account: 'account', lld: 'lld',
};
const OP_NAMES: readonly string[] = ['new', 'delete', 'bind', 'unbind', 'show', 'update', 'stat', 'start', 'stop'];

interface Parsed {
  values: Values & { controlPort?: number; json?: boolean; dump?: boolean; adminSocket?: string; version?: boolean };
  letters: string[];
}

/** Run bgadm with `argv` as in process.argv (node, script, args...). Returns the exit status. */
export async function runBgadm(argv: readonly string[], io: BgadmIo): Promise<number> {
  const prog = programName(argv[1]);
  let parsed: Parsed;
  try {
    parsed = parseArgs(argv.slice(2), prog, io);
  } catch (e) {
    if (e instanceof Stop) {
      if (e.text !== '') io.stderr(e.text);
      return e.status;
    }
    throw e;
  }
  const { values } = parsed;
  if (values.version === true) {
    io.stdout(`${BLOCKGATE_VERSION}\n`);
    return 0;
  }
  const built = values.dump === true ? ({ kind: 'dump' } as const) : buildRequest(parsed, prog);
  if (typeof built === 'string') {
    io.stderr(built);
    return EXIT_EINVAL;
  }
  return sendAndPrint(built, values, prog, io);
}

async function sendAndPrint(request: AdminRequest, values: Parsed['values'], prog: string, io: BgadmIo): Promise<number> {
  let socketPath = resolveAdminSocketPath(values.adminSocket, { ...processPathEnvironment(), env: io.env });
  if (values.controlPort !== undefined && values.controlPort !== 0) socketPath += `.${values.controlPort}`;
  const send = io.send ?? sendAdminRequest;
  const reply = await send(socketPath, request, REQUEST_TIMEOUT_MS);
  if (values.json === true) {
    io.stdout(JSON.stringify(reply, null, 2) + '\n');
    return reply.ok ? 0 : MGMT_ERRORS[reply.error.code].exitStatus;
  }
  if (!reply.ok) {
    io.stderr(`${prog}: ${errorText(reply.error)}\n`);
    return MGMT_ERRORS[reply.error.code].exitStatus;
  }
  if (reply.show !== undefined) io.stdout(formatShow(request, reply.show));
  return 0;
}

/**
 * The table's message (for tgt errors tgtadm's exact text, so scripts that
 * match it keep working), then the details saying why, when the daemon gave any.
 */
function errorText(e: MgmtError): string {
  const info = MGMT_ERRORS[e.code];
  return e.details !== undefined && e.details !== '' ? `${info.message}: ${e.details}` : info.message;
}

function programName(script: string | undefined): string {
  const name = basename(script ?? 'bgadm').replace(/\.(c?js|ts)$/, '');
  return name === '' ? 'bgadm' : name;
}

function usageError(prog: string, first: string): Stop {
  return new Stop(`${first}\nTry \`${prog} --help' for more information.\n`, EXIT_EINVAL);
}

function parseArgs(args: readonly string[], prog: string, io: BgadmIo): Parsed {
  const parsed: Parsed = { values: {}, letters: [] };
  const program = new Command(prog)
    .exitOverride()
    .helpOption('-h, --help', 'display this help and exit')
    .configureOutput({ writeOut: (s) => io.stdout(s), writeErr: () => undefined, outputError: () => undefined })
    .addHelpText('after', HELP_AFTER)
    .usage('[options]')
    .argument('[extra...]');
  for (const row of OPTIONS) {
    const flags = (row.short !== '' ? `-${row.short}, ` : '') + `--${row.long}` + (row.arg ? ` ${row.arg}` : '');
    program.option(flags, row.help);
    program.on(`option:${row.long}`, (raw: string | undefined) => {
      parsed.letters.push(row.short);
      storeValue(parsed.values as Record<string, unknown>, row, raw ?? true, prog);
    });
  }
  try {
    program.parse([...expandLongPrefixes(args)], { from: 'user' });
  } catch (e) {
    throw commanderStop(e, prog);
  }
  const extra = program.processedArgs[0] as string[] | undefined;
  if (extra !== undefined && extra.length > 0) throw usageError(prog, `${prog}: unrecognized option '${extra[0]}'`);
  return parsed;
}

function commanderStop(e: unknown, prog: string): unknown {
  if (e instanceof Stop || !(e instanceof CommanderError)) return e;
  if (e.code === 'commander.helpDisplayed' || e.code === 'commander.help') return new Stop('', 0);
  const token = /'([^']*)'/.exec(e.message)?.[1] ?? '';
  if (e.code === 'commander.unknownOption') {
    const text = token.startsWith('--') ? `unrecognized option '${token}'` : `invalid option -- '${token.replace(/^-/, '')}'`;
    return usageError(prog, `${prog}: ${text}`);
  }
  if (e.code === 'commander.optionMissingArgument') {
    const letter = /-(\w), /.exec(e.message)?.[1] ?? token;
    return usageError(prog, `${prog}: option requires an argument -- '${letter}'`);
  }
  return usageError(prog, `${prog}: ${e.message.replace(/^error: /, '')}`);
}

/** Convert one option occurrence; tgtadm checks numbers and names as it meets them. */
function storeValue(values: Record<string, unknown>, row: OptionRow, raw: string | boolean, prog: string): void {
  if (typeof raw === 'boolean') {
    values[row.key] = raw;
    return;
  }
  switch (row.key) {
    case 'mode': {
      const mode = MODE_ALIASES[raw];
      if (mode === undefined) throw new Stop(`${prog}: unknown mode: ${raw}\n`, EXIT_BAD_NAME);
      values.mode = mode;
      return;
    }
    case 'op':
      if (!OP_NAMES.includes(raw)) throw new Stop(`${prog}: unknown operation: ${raw}\n`, EXIT_BAD_NAME);
      values.op = raw;
      return;
    case 'tid': case 'sid': case 'cid': case 'lun': case 'controlPort': case 'blockSize':
      values[row.key] = parseUnsigned(raw, row.short, prog);
      return;
    case 'deviceType':
      if (!(DEVICE_TYPES as readonly string[]).includes(raw)) throw new Stop(`${prog}: unknown target type: ${raw}\n`, EXIT_EINVAL);
      values.deviceType = raw;
      return;
    default:
      values[row.key] = raw;
  }
}

function parseUnsigned(raw: string, letter: string, prog: string): number {
  if (!/^\s*\+?\d+$/.test(raw) && !/^0x[0-9a-f]+$/i.test(raw.trim())) {
    throw usageError(prog, `-${letter} argument value '${raw}' invalid`);
  }
  const n = Number(raw.trim());
  if (!Number.isSafeInteger(n)) throw usageError(prog, `-${letter} argument value '${raw}' out of range`);
  return n;
}

/** Checks in tgtadm's order, then the typed request (or a message + status). */
function buildRequest(parsed: Parsed, prog: string): TgtadmRequest | string {
  const v = parsed.values;
  if (v.op === undefined) return `${prog}: specify the operation type\n`;
  if (v.mode === undefined) return `${prog}: specify the mode\n`;
  const msg = checkModeOp(v, parsed.letters);
  if (msg !== undefined) return `${prog}: ${msg}\n`;
  const lld = v.lld ?? 'iscsi';
  if (!(LLDS as readonly string[]).includes(lld)) return `${prog}: ${MGMT_ERRORS.BG_ERR_NO_DRIVER.message}\n`;
  if (v.op === 'stat' || v.host !== undefined || v.bus !== undefined) {
    return `${prog}: ${MGMT_ERRORS.BG_ERR_UNSUPPORTED_OPERATION.message}\n`;
  }
  const req: TgtadmRequest = { kind: 'tgtadm', lld: lld as Lld, mode: v.mode, op: v.op as AdminOp };
  copyDefined(req, v, [
    'tid', 'lun', 'sid', 'cid', 'targetname', 'backingStore', 'bstype', 'bsopts', 'bsoflags', 'blockSize',
    'initiatorAddress', 'initiatorName', 'user', 'password', 'outgoing', 'name', 'value', 'force',
  ]);
  if (v.deviceType !== undefined) req.deviceType = v.deviceType as DeviceType;
  if (v.params !== undefined) {
    const kv = parseKv(v.params);
    if (v.mode === 'portal') {
      if (kv.portal === undefined || kv.portal === '') return `${prog}: you must specify --param portal=<portal>\n`;
      req.portal = kv.portal;
    } else req.params = kv;
    // Refused here as tgtadm refuses a bad argument: with the reason, before anything is sent.
    const size = v.mode === 'logicalunit' && kv.size !== undefined ? parseSize(kv.size) : 0;
    if (typeof size === 'string') return `${prog}: ${size}\n`;
  }
  return req;
}

function copyDefined(req: TgtadmRequest, v: Values, keys: (keyof Values & keyof TgtadmRequest)[]): void {
  for (const k of keys) if (v[k] !== undefined) (req as unknown as Record<string, unknown>)[k] = v[k];
}

const HELP_AFTER = `
Requests (tgtadm syntax; --lld defaults to iscsi):
  --mode target --op new --tid <id> --targetname <name>
  --mode target --op delete [--force] --tid <id>
  --mode target --op show [--tid <id>]
  --mode target --op update --tid <id> --name <param> --value <value>
  --mode target --op bind|unbind --tid <id> --initiator-address <addr|cidr|ALL>
  --mode target --op bind|unbind --tid <id> --initiator-name <iqn>
  --mode logicalunit --op new --tid <id> --lun <lun> --backing-store <path>
        [--bstype file|chunk|memory] [--bsopts <opts>] [--bsoflags sync|direct|sync:direct]
        [--blocksize <bytes>] [--params size=<size>,readonly=1,...]
        (sizes: bytes or 512K, 128M, 10G, 2T; 1024-based)
  --mode logicalunit --op delete --tid <id> --lun <lun>
  --mode logicalunit --op update --tid <id> --lun <lun> --params <k=v,...>
  --mode account --op new --user <name> --password <secret>
  --mode account --op delete --user <name>
  --mode account --op show
  --mode account --op bind|unbind [--tid <id>] --user <name> [--outgoing]
        (without --tid: the discovery account)
  --mode portal --op new|delete --param portal=<addr:port>
  --mode portal|lld|sys --op show
  --mode conn --op show --tid <id>
  --mode session --op show --tid <id> --sid <sid>
  --mode conn --op delete --tid <id> --sid <sid> --cid <cid>
  --mode lld --op start|stop
  --dump                       print the running configuration as YAML

Exit status: 0 on success, 22 (EINVAL) for usage and daemon errors,
1 for an unknown --mode/--op, 107 when no daemon listens. See docs/cli.md.
`;
