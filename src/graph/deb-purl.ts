/**
 * The package URL of a Debian binary package, `pkg:deb/debian/NAME@VERSION?arch=ARCH`
 * (purl spec, type deb). Encoded as the reference implementation (packageurl-js)
 * encodes it, which the tests check: the name percent-encoded as a URI component
 * (libstdc++6 -> libstdc%2B%2B6), the version too but for ":" (epochs) and "+",
 * which stay as they are.
 */
export function debPurl(pkg: { name: string; version: string; architecture?: string }, vendor = 'debian'): string {
  const version = encodeURIComponent(pkg.version).replace(/%3A/g, ':').replace(/%2B/g, '+');
  const qualifiers = pkg.architecture
    ? `?${new URLSearchParams({ arch: pkg.architecture }).toString().replace(/\+/g, '%20')}`
    : '';
  return `pkg:deb/${encodeURIComponent(vendor)}/${encodeURIComponent(pkg.name)}@${version}${qualifiers}`;
}
