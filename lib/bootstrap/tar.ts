import { createHash } from "node:crypto";
import { gzipSync } from "node:zlib";

/** A file in a node bundle. */
export interface BundleFile {
  readonly path: string;
  readonly content: string;
  /** Octal permission bits, e.g. "0644". */
  readonly permissions: string;
}

const BLOCK = 512;

/**
 * A gzipped POSIX tar of the files, byte-for-byte deterministic: sorted
 * entries, owner root, mtime 0. Paths are stored relative to /, so
 * `tar -xzf bundle -C /` puts each file where it belongs.
 */
export function tarGz(files: BundleFile[]): Buffer {
  const blocks: Buffer[] = [];
  for (const file of [...files].sort((a, b) => a.path.localeCompare(b.path))) {
    const body = Buffer.from(file.content, "utf8");
    blocks.push(header(file.path.replace(/^\//, ""), body.length, file.permissions), pad(body));
  }
  blocks.push(Buffer.alloc(2 * BLOCK));
  return gzipSync(Buffer.concat(blocks), { level: 9 });
}

export function sha256(data: Buffer | string): string {
  return createHash("sha256").update(data).digest("hex");
}

function header(path: string, size: number, permissions: string): Buffer {
  const block = Buffer.alloc(BLOCK);
  const [name, prefix] = splitPath(path);
  const octal = (value: number, width: number) => value.toString(8).padStart(width - 1, "0") + "\0";
  block.write(name, 0, 100, "utf8");
  block.write(octal(parseInt(permissions, 8), 8), 100);
  block.write(octal(0, 8), 108); // uid
  block.write(octal(0, 8), 116); // gid
  block.write(octal(size, 12), 124);
  block.write(octal(0, 12), 136); // mtime
  block.write("        ", 148); // checksum placeholder: eight spaces
  block.write("0", 156); // regular file
  block.write("ustar\0" + "00", 257);
  block.write("root", 265);
  block.write("root", 297);
  block.write(prefix, 345, 155, "utf8");
  const checksum = block.reduce((sum, byte) => sum + byte, 0);
  block.write(checksum.toString(8).padStart(6, "0") + "\0 ", 148);
  return block;
}

/** ustar keeps names up to 100 bytes, plus a 155-byte directory prefix. */
function splitPath(path: string): [string, string] {
  if (Buffer.byteLength(path) <= 100) return [path, ""];
  const cut = path.lastIndexOf("/", path.length - 1);
  const [prefix, name] = [path.slice(0, cut), path.slice(cut + 1)];
  if (Buffer.byteLength(name) > 100 || Buffer.byteLength(prefix) > 155) throw new Error(`path too long for a tar header: ${path}`);
  return [name, prefix];
}

function pad(body: Buffer): Buffer {
  const rest = body.length % BLOCK;
  return rest === 0 ? body : Buffer.concat([body, Buffer.alloc(BLOCK - rest)]);
}
