#!/bin/sh
# Installs git-train: the binary (so `git train` works), and shows how to start.
#   ./install.sh [--prefix DIR]     default prefix: ~/.local
set -eu

prefix="${HOME}/.local"
while [ $# -gt 0 ]; do
    case "$1" in
        --prefix) prefix="$2"; shift 2 ;;
        --prefix=*) prefix="${1#--prefix=}"; shift ;;
        -h|--help) sed -n '2,3p' "$0"; exit 0 ;;
        *) echo "install.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
    esac
done

cd "$(dirname "$0")"
cargo install --locked --quiet --force --path . --root "$prefix"

case ":${PATH}:" in
    *":${prefix}/bin:"*) ;;
    *) echo "Add ${prefix}/bin to PATH, e.g. in ~/.profile:  export PATH=\"${prefix}/bin:\$PATH\"" ;;
esac
echo "Installed ${prefix}/bin/git-train. In a repository, run: git train init"
