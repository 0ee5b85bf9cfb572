#!/usr/bin/env node
// bgadm entry point: tgtadm-compatible admin CLI (src/cli/bgadm.ts).
import { runBgadm } from '../cli/bgadm.js';

const io = { stdout: (s: string) => process.stdout.write(s), stderr: (s: string) => process.stderr.write(s), env: process.env };
process.exitCode = await runBgadm(process.argv, io);
