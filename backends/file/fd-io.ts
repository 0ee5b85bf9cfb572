/**
 * Promise wrappers over fs's callback API on raw descriptors: cheaper per
 * call than FileHandle, and loops over short reads/writes so callers always
 * move whole buffers. Reads past end-of-file return zeroes (a sparse tail).
 */
import fs from 'node:fs';

export function readFull(fd: number, buf: Buffer, position: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let done = 0;
    const step = (err: NodeJS.ErrnoException | null, n: number): void => {
      if (err) return reject(err);
      if (n === 0) {
        buf.fill(0, done);
        return resolve();
      }
      done += n;
      if (done >= buf.length) return resolve();
      fs.read(fd, buf, done, buf.length - done, position + done, step);
    };
    fs.read(fd, buf, 0, buf.length, position, step);
  });
}

export function writeFull(fd: number, buf: Buffer, position: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let done = 0;
    const step = (err: NodeJS.ErrnoException | null, n: number): void => {
      if (err) return reject(err);
      done += n;
      if (done >= buf.length) return resolve();
      fs.write(fd, buf, done, buf.length - done, position + done, step);
    };
    fs.write(fd, buf, 0, buf.length, position, step);
  });
}

export function fdatasync(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fs.fdatasync(fd, (err) => (err ? reject(err) : resolve())));
}

export function ftruncate(fd: number, len: number): Promise<void> {
  return new Promise((resolve, reject) => fs.ftruncate(fd, len, (err) => (err ? reject(err) : resolve())));
}

export function fchmod(fd: number, mode: number): Promise<void> {
  return new Promise((resolve, reject) => fs.fchmod(fd, mode, (err) => (err ? reject(err) : resolve())));
}

export function fstat(fd: number): Promise<fs.Stats> {
  return new Promise((resolve, reject) => fs.fstat(fd, (err, st) => (err ? reject(err) : resolve(st))));
}

export function closeFd(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fs.close(fd, (err) => (err ? reject(err) : resolve())));
}
