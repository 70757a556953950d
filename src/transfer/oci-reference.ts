/**
 * `oci://HOST[:PORT]/REPO[:TAG|@sha256:HEX]`, the registry reference push and
 * pull take. Pure. Repository and tag follow the distribution spec's grammar,
 * so a name the registry would refuse is refused here, in one line, first.
 */
import { isDigest, type Digest } from '../core/digest.js';
import { AslError } from '../core/errors.js';

export interface OciReference {
  /** host[:port], as the registry and docker's config.json name it. */
  host: string;
  repository: string;
  /** The tag, or undefined when a digest is given. */
  tag?: string;
  digest?: Digest;
}

export const DEFAULT_TAG = 'latest';

const COMPONENT = '[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*';
const REPOSITORY_RE = new RegExp(`^${COMPONENT}(?:/${COMPONENT})*$`);
const TAG_RE = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;
const HOST_RE =
  /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$/;

export function parseOciReference(text: string): OciReference {
  const bad = (why: string) =>
    new AslError(
      'USAGE',
      `${text}: ${why} (expected oci://HOST[:PORT]/REPO[:TAG] or oci://HOST[:PORT]/REPO@sha256:HEX)`,
    );
  if (!text.startsWith('oci://')) throw bad('not an oci:// reference');
  const rest = text.slice('oci://'.length);
  const slash = rest.indexOf('/');
  if (slash <= 0) throw bad('no repository after the host');
  const host = rest.slice(0, slash);
  if (!HOST_RE.test(host)) throw bad(`"${host}" is not a host[:port]`);
  const port = /:([0-9]+)$/.exec(host)?.[1];
  if (port !== undefined && (Number(port) < 1 || Number(port) > 65535)) throw bad(`port ${port} is out of range`);
  let path = rest.slice(slash + 1);
  let tag: string | undefined;
  let digest: Digest | undefined;
  const at = path.indexOf('@');
  if (at >= 0) {
    const d = path.slice(at + 1);
    if (!isDigest(d)) throw bad(`"${d}" is not a sha256 digest`);
    digest = d;
    path = path.slice(0, at);
  } else {
    const colon = path.lastIndexOf(':');
    if (colon >= 0) {
      tag = path.slice(colon + 1);
      path = path.slice(0, colon);
      if (!TAG_RE.test(tag)) throw bad(`"${tag}" is not a valid tag ([A-Za-z0-9_][A-Za-z0-9._-]{0,127})`);
    }
  }
  if (!REPOSITORY_RE.test(path))
    throw bad(
      `"${path}" is not a valid repository name (lower-case a-z, 0-9, separators . _ __ -, components joined by /)`,
    );
  if (host.length + 1 + path.length > 255) throw bad('the repository name is longer than 255 characters');
  return { host, repository: path, ...(tag !== undefined ? { tag } : {}), ...(digest ? { digest } : {}) };
}

/** The reference as text; `tag` defaults to latest when neither tag nor digest is set. */
export function formatOciReference(ref: OciReference): string {
  const suffix = ref.digest ? `@${ref.digest}` : `:${ref.tag ?? DEFAULT_TAG}`;
  return `oci://${ref.host}/${ref.repository}${suffix}`;
}
