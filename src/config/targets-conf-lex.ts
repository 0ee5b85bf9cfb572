/**
 * Reading tgt's targets.conf (tgt doc/targets.conf.5.xml, scripts/tgt-admin)
 * into a raw tree: global directives, <target> blocks, and nested
 * <backing-store>/<direct-store> blocks, each directive with its file and
 * line. `include <glob>` is expanded here. No meaning is given to keys yet
 * (targets-conf.ts does that).
 *
 * Syntax accepted (Config::General subset as tgt-admin uses it):
 *   - `#` starts a comment anywhere on a line; `\#` is a literal '#'.
 *   - `key value...` or `key = value...`; the value is the rest of the line.
 *   - `<target NAME>` … `</target>`; inside, `<backing-store PATH>` …
 *     `</backing-store>` and `<direct-store PATH>` … `</direct-store>`.
 */
import { dirname, isAbsolute, join } from 'node:path';
import type { ConfigIssue } from './validate.js';

export interface RawDirective {
  key: string;
  value: string;
  file: string;
  line: number;
}

export interface RawStore {
  kind: 'backing-store' | 'direct-store';
  path: string;
  /** true for `<backing-store p>` blocks, false for one-line `backing-store p`. */
  block: boolean;
  directives: RawDirective[];
  file: string;
  line: number;
}

export interface RawTarget {
  name: string;
  file: string;
  line: number;
  directives: RawDirective[];
  stores: RawStore[];
}

export interface RawConf {
  globals: RawDirective[];
  targets: RawTarget[];
}

/** File access for `include`; injectable for tests. */
export interface TargetsConfIo {
  readFile(path: string): string | undefined;
  /** Expand a glob with `*`/`?` in the last path component; sorted. */
  glob(pattern: string): string[];
}

const MAX_INCLUDE_DEPTH = 8;

export function lexTargetsConf(file: string, io: TargetsConfIo, issues: ConfigIssue[]): RawConf {
  const conf: RawConf = { globals: [], targets: [] };
  const text = io.readFile(file);
  if (text === undefined) {
    issues.push({ file, line: 0, reason: 'cannot read file' });
    return conf;
  }
  lexText(text, file, io, issues, conf, [file]);
  return conf;
}

function lexText(text: string, file: string, io: TargetsConfIo, issues: ConfigIssue[], conf: RawConf, stack: string[]): void {
  let target: RawTarget | undefined;
  let store: RawStore | undefined;
  const lines = text.split(/\r?\n/);
  lines.forEach((rawLine, idx) => {
    const line = idx + 1;
    const s = stripComment(rawLine).trim();
    if (s === '') return;
    const bad = (reason: string): void => {
      issues.push({ file, line, reason });
    };
    const open = /^<\s*([A-Za-z-]+)\s+(.+?)\s*>$/.exec(s);
    const close = /^<\s*\/\s*([A-Za-z-]+)\s*>$/.exec(s);
    if (open !== null) {
      const [, tag, arg] = open as unknown as [string, string, string];
      if (tag === 'target') {
        if (target !== undefined) return bad('<target> inside <target>');
        target = { name: arg, file, line, directives: [], stores: [] };
      } else if (tag === 'backing-store' || tag === 'direct-store') {
        if (target === undefined) return bad(`<${tag}> outside <target>`);
        if (store !== undefined) return bad(`<${tag}> inside <${store.kind}>`);
        store = { kind: tag, path: arg, block: true, directives: [], file, line };
      } else bad(`unknown block <${tag}>`);
      return;
    }
    if (close !== null) {
      const tag = close[1];
      if (store !== undefined && tag === store.kind) {
        target!.stores.push(store);
        store = undefined;
      } else if (store === undefined && target !== undefined && tag === 'target') {
        conf.targets.push(target);
        target = undefined;
      } else bad(`unexpected </${tag}>`);
      return;
    }
    if (s.startsWith('<')) return bad(`malformed block tag ${JSON.stringify(s)}`);
    const d = splitDirective(s, file, line);
    if (store !== undefined) store.directives.push(d);
    else if (target !== undefined) addTargetDirective(target, d);
    else if (d.key === 'include') includeFiles(d, io, issues, conf, stack);
    else conf.globals.push(d);
  });
  if (store !== undefined) issues.push({ file, line: store.line, reason: `<${store.kind}> is never closed` });
  else if (target !== undefined) issues.push({ file, line: target.line, reason: '<target> is never closed' });
}

function addTargetDirective(target: RawTarget, d: RawDirective): void {
  if (d.key === 'backing-store' || d.key === 'direct-store') {
    target.stores.push({ kind: d.key, path: d.value, block: false, directives: [], file: d.file, line: d.line });
  } else {
    target.directives.push(d);
  }
}

function includeFiles(d: RawDirective, io: TargetsConfIo, issues: ConfigIssue[], conf: RawConf, stack: string[]): void {
  if (stack.length > MAX_INCLUDE_DEPTH) {
    issues.push({ file: d.file, line: d.line, reason: `includes nested deeper than ${MAX_INCLUDE_DEPTH}` });
    return;
  }
  // Relative includes are taken from the including file's directory.
  const pattern = isAbsolute(d.value) ? d.value : join(dirname(d.file), d.value);
  for (const path of io.glob(pattern)) {
    if (stack.includes(path)) {
      issues.push({ file: d.file, line: d.line, reason: `include cycle through ${path}` });
      continue;
    }
    const text = io.readFile(path);
    if (text === undefined) issues.push({ file: d.file, line: d.line, reason: `cannot read included file ${path}` });
    else lexText(text, path, io, issues, conf, [...stack, path]);
  }
}

function stripComment(line: string): string {
  let out = '';
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === '\\' && line[i + 1] === '#') {
      out += '#';
      i++;
    } else if (c === '#') break;
    else out += c;
  }
  return out;
}

function splitDirective(s: string, file: string, line: number): RawDirective {
  const m = /^(\S+?)(?:\s*=\s*|\s+)(.*)$/.exec(s);
  if (m === null) return { key: s, value: '', file, line };
  return { key: m[1]!, value: m[2]!.trim(), file, line };
}
