/**
 * Registry credentials the way docker, podman, oras and crane find them: the
 * operator's flags first, else the docker config file ($DOCKER_CONFIG/config.json
 * or ~/.docker/config.json): `auths[host].auth` (base64 "user:password") or
 * `username`/`password`, or a credential helper (`credHelpers[host]`, else
 * `credsStore`) run as `docker-credential-<name> get`. Credentials are held in
 * memory for the request headers only; ASL never writes them anywhere.
 */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { AslError } from '../core/errors.js';
import type { Credentials } from './oci-client.js';

export interface CredentialOptions {
  username?: string;
  password?: string;
  /** Defaults to process.env. */
  env?: NodeJS.ProcessEnv;
}

interface DockerConfig {
  auths?: Record<string, { auth?: string; username?: string; password?: string; identitytoken?: string }>;
  credHelpers?: Record<string, string>;
  credsStore?: string;
}

/** "https://host:5000/v1/" -> "host:5000": config keys may carry a scheme and a path. */
function hostOfKey(key: string): string {
  return key
    .replace(/^[a-z]+:\/\//i, '')
    .replace(/\/.*$/, '')
    .toLowerCase();
}

export function dockerConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.DOCKER_CONFIG ?? join(env.HOME ?? homedir(), '.docker'), 'config.json');
}

function runHelper(name: string, host: string): Promise<Credentials | undefined> {
  const program = `docker-credential-${name}`;
  return new Promise((resolve, reject) => {
    const child = spawn(program, ['get'], { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.on('error', (e) =>
      reject(
        new AslError(
          'BAD_INPUT',
          `credential helper ${program} (named in ${dockerConfigPath()}) cannot run: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'not found on PATH' : e.message}`,
        ),
      ),
    );
    child.on('close', (code) => {
      const text = Buffer.concat(out).toString('utf8');
      if (code !== 0) {
        // Helpers answer "credentials not found" with a non-zero exit: no credentials, not an error.
        if (/not found/i.test(text + Buffer.concat(err).toString('utf8'))) {
          resolve(undefined);
          return;
        }
        reject(
          new AslError(
            'BAD_INPUT',
            `credential helper ${program} failed (exit ${code}): ${(Buffer.concat(err).toString('utf8') || text).trim().split('\n')[0]}`,
          ),
        );
        return;
      }
      try {
        const v = JSON.parse(text) as { Username?: unknown; Secret?: unknown };
        if (typeof v.Username !== 'string' || typeof v.Secret !== 'string') throw new Error('no Username/Secret');
        resolve({ username: v.Username, password: v.Secret });
      } catch {
        reject(
          new AslError(
            'BAD_INPUT',
            `credential helper ${program} answered something that is not {"Username","Secret"} JSON`,
          ),
        );
      }
    });
    child.stdin.end(host);
  });
}

/** The credentials for `host` (host[:port]), or undefined for anonymous access. */
export async function resolveCredentials(host: string, opts: CredentialOptions = {}): Promise<Credentials | undefined> {
  if (opts.username !== undefined) {
    if (opts.password === undefined)
      throw new AslError('USAGE', '--username needs a password: pass it on stdin with --password-stdin');
    return { username: opts.username, password: opts.password };
  }
  if (opts.password !== undefined) throw new AslError('USAGE', '--password-stdin needs --username');
  const path = dockerConfigPath(opts.env);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new AslError('BAD_INPUT', `${path}: cannot read the docker config (${(err as Error).message})`);
  }
  let config: DockerConfig;
  try {
    config = JSON.parse(text) as DockerConfig;
  } catch {
    throw new AslError('BAD_INPUT', `${path}: not JSON`);
  }
  const want = host.toLowerCase();
  const helper = config.credHelpers && Object.entries(config.credHelpers).find(([k]) => hostOfKey(k) === want)?.[1];
  if (helper) return runHelper(helper, host);
  const entry = config.auths && Object.entries(config.auths).find(([k]) => hostOfKey(k) === want)?.[1];
  if (entry?.auth) {
    const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon <= 0) throw new AslError('BAD_INPUT', `${path}: auths["${host}"].auth is not base64 of "user:password"`);
    return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
  }
  if (entry?.username !== undefined && entry.password !== undefined)
    return { username: entry.username, password: entry.password };
  if (config.credsStore) return runHelper(config.credsStore, host);
  return undefined;
}
