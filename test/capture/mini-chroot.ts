import { execFileSync } from 'node:child_process';
import { copyFile, mkdir, realpath } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/**
 * The smallest root a dynamically linked program runs in: the host's dash and
 * the given programs, copied with every library ldd names to the same paths
 * under `root`, plus /bin/sh. No network, no packages; /bin is a real
 * directory here (not merged) so host paths inside the root are predictable.
 */
export async function buildMiniChroot(root: string, programs: readonly string[] = ['cat']): Promise<void> {
  const binaries = ['/bin/sh', ...programs.map((p) => `/bin/${p}`)];
  const libs = new Set<string>();
  for (const bin of binaries) {
    const host = await realpath(bin);
    await copyInto(root, host, bin);
    const ldd = execFileSync('ldd', [host], { encoding: 'utf8' });
    for (const line of ldd.split('\n')) {
      const m = /(?:=>\s*)?(\/\S+)\s+\(0x/.exec(line);
      if (m) libs.add(m[1]!);
    }
  }
  for (const lib of libs) await copyInto(root, await realpath(lib), lib);
}

async function copyInto(root: string, hostFile: string, pathInRoot: string): Promise<void> {
  const dest = join(root, pathInRoot);
  await mkdir(dirname(dest), { recursive: true });
  await copyFile(hostFile, dest);
  execFileSync('chmod', ['--reference', hostFile, dest]);
}
