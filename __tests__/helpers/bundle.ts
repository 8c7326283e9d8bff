import { gunzipSync } from "node:zlib";
import { parse } from "yaml";
import { decodeUserData } from "../../lib/bootstrap/user-data";

/** Reads a gzipped ustar archive back into path -> content (paths absolute, as the node unpacks them). */
export function untarGz(archive: Buffer): Record<string, string> {
  const tar = gunzipSync(archive);
  const files: Record<string, string> = {};
  for (let offset = 0; offset + 512 <= tar.length; ) {
    const header = tar.subarray(offset, offset + 512);
    if (header.every((b) => b === 0)) break;
    const text = (start: number, length: number) => header.subarray(start, start + length).toString("utf8").replace(/\0.*$/s, "");
    const size = parseInt(text(124, 12), 8);
    const prefix = text(345, 155);
    const path = `/${prefix ? `${prefix}/` : ""}${text(0, 100)}`;
    files[path] = tar.subarray(offset + 512, offset + 512 + size).toString("utf8");
    offset += 512 + Math.ceil(size / 512) * 512;
  }
  return files;
}

/** The files and environment a launch template's user data carries. */
export function userDataFiles(userDataBase64: string): { cloudConfig: string; files: Record<string, string>; env: Record<string, string> } {
  const cloudConfig = decodeUserData(userDataBase64);
  const written = (parse(cloudConfig.replace(/^#cloud-config\n/, "")) as { write_files: Array<{ path: string; content: string }> }).write_files;
  const files = Object.fromEntries(written.map((f) => [f.path, f.content]));
  const env = Object.fromEntries(
    files["/etc/kubeadm-aws/node.env"]
      .split("\n")
      .filter(Boolean)
      .map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 2, -1)]),
  );
  return { cloudConfig, files, env };
}
