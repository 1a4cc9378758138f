# Shared by scripts/serve and scripts/test: Debian packages from a list, and
# npm ci, each skipped when already done (a second run starts at once).
# Sourced, not run; expects to be root and in the project's directory.

# Install the packages of list file $1 that are not installed yet.
apt_from_list() {
  missing=
  for pkg in $(grep -v '^#' "$1"); do
    # npm may come with a Node.js of another origin (NodeSource's nodejs carries it).
    [ "$pkg" = npm ] && command -v npm >/dev/null 2>&1 && continue
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $pkg"
  done
  if [ -n "$missing" ]; then
    echo "netrestore: installing Debian packages:$missing" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    # shellcheck disable=SC2086
    apt-get install -y -q --no-install-recommends $missing
  fi
}

# npm ci (npm arrives with the Debian package list), again only when package-lock.json changed.
npm_ci() {
  stamp=node_modules/.netrestore-lock.sha256
  want=$(sha256sum package-lock.json | cut -d' ' -f1)
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    npm ci --no-audit --no-fund "$@"
    echo "$want" > "$stamp"
  fi
}
