// What the numbers were measured on, printed above every table.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, release, totalmem } from 'node:os';

export function machineLines(paths: Record<string, string>): string[] {
  const cpuModel = /^model name\s*:\s*(.*)$/m.exec(read('/proc/cpuinfo'))?.[1] ?? cpus()[0]?.model ?? 'unknown';
  const lines = [
    `- CPU: ${cpuModel}, ${cpus().length} cores`,
    `- RAM: ${(totalmem() / 2 ** 30).toFixed(1)} GiB`,
    `- OS: Debian ${read('/etc/debian_version').trim() || '?'}, kernel ${release()}`,
    `- Node ${process.version}; ${firstLine('in-toto-run', ['--version'])}; ${firstLine('sha256sum', ['--version'])}`,
  ];
  for (const [what, path] of Object.entries(paths)) lines.push(`- ${what}: ${fileSystem(path)}`);
  return lines;
}

/** File system type and device under path, from df. */
function fileSystem(path: string): string {
  const out = firstLine('df', ['--output=fstype,source', path], 1);
  const [type, source] = out.split(/\s+/);
  return type ? `${type} on ${source}` : 'unknown';
}

function firstLine(program: string, args: string[], index = 0): string {
  try {
    return (
      execFileSync(program, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
        .trim()
        .split('\n')
        [index]?.trim() ?? ''
    );
  } catch {
    return `${program}: unknown version`;
  }
}

function read(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}
