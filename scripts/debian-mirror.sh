#!/usr/bin/env bash
# Prints the Debian mirror to use: $ASL_MIRROR, else the first Debian (non-security)
# URI in the host's apt sources (deb822 .sources files or one-line .list files).
set -euo pipefail
if [[ -n "${ASL_MIRROR:-}" ]]; then echo "$ASL_MIRROR"; exit 0; fi
shopt -s nullglob
for f in /etc/apt/sources.list.d/*.sources; do
  uri=$(awk '/^URIs:/ {for (i = 2; i <= NF; i++) print $i}' "$f" | grep -v -- '-security' | grep -E '/debian(/|$)' | head -n1 || true)
  if [[ -n "$uri" ]]; then echo "${uri%/}"; exit 0; fi
done
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
  [[ -f "$f" ]] || continue
  uri=$(awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^https?:/) { print $i; break } }' "$f" | grep -v -- '-security' | grep -E '/debian(/|$)' | head -n1 || true)
  if [[ -n "$uri" ]]; then echo "${uri%/}"; exit 0; fi
done
echo "debian-mirror: no Debian mirror in the apt sources; set ASL_MIRROR" >&2
exit 2
