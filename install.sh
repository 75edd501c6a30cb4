#!/bin/sh
# Installs git-train under a prefix: the binary (so `git train` works), the manual
# pages (so `git train --help` and `man git-train` work) and the completions for
# bash, zsh and fish. Running it again reinstalls the same files.
#   ./install.sh [--prefix DIR]     default prefix: ~/.local
set -eu

prefix="${HOME}/.local"
while [ $# -gt 0 ]; do
    case "$1" in
        --prefix)
            [ $# -ge 2 ] || { echo "install.sh: --prefix needs a folder" >&2; exit 2; }
            prefix="$2"; shift 2 ;;
        --prefix=*) prefix="${1#--prefix=}"; shift ;;
        -h|--help) sed -n '2,6p' "$0"; exit 0 ;;
        *) echo "install.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
    esac
done

cd "$(dirname "$0")"
mkdir -p "$prefix"
prefix="$(cd "$prefix" && pwd)"

echo "Building and installing git-train into ${prefix}/bin (cargo install --locked) ..."
cargo install --locked --quiet --force --path . --root "$prefix"
bin="${prefix}/bin/git-train"

# Writes stdin to $1 through a temporary file, so a failure leaves no half file.
put() {
    mkdir -p "$(dirname "$1")"
    cat > "$1.tmp.$$"
    mv -f "$1.tmp.$$" "$1"
}

man1="${prefix}/share/man/man1"
mkdir -p "$man1"
cp -f man/*.1 "$man1/"

"$bin" completions bash | put "${prefix}/share/bash-completion/completions/git-train"
"$bin" completions zsh | put "${prefix}/share/zsh/site-functions/_git-train"
"$bin" completions fish | put "${prefix}/share/fish/vendor_completions.d/git-train.fish"
# fish 3.6.0 completes `git train` only with this, read at start-up.
"$bin" completions fish-git | put "${prefix}/share/fish/vendor_conf.d/git-train.fish"

echo "Installed ${bin}"
echo "  manual pages in ${man1}"
echo "  completions in ${prefix}/share/{bash-completion/completions,zsh/site-functions,fish/vendor_completions.d,fish/vendor_conf.d}"

case ":${PATH}:" in
    *":${prefix}/bin:"*) ;;
    *) echo "Add ${prefix}/bin to PATH, e.g. in ~/.profile:  export PATH=\"${prefix}/bin:\$PATH\"" ;;
esac
# man finds PREFIX/share/man by itself for every PREFIX/bin on PATH, unless MANPATH
# says otherwise: ask it.
if command -v man >/dev/null 2>&1; then
    found="$(PATH="${prefix}/bin:${PATH}" man -w git-train 2>/dev/null || true)"
    case "$found" in
        "${prefix}/share/man/"*) ;;
        *) echo "Add ${prefix}/share/man to MANPATH, e.g. in ~/.profile:  export MANPATH=\"${prefix}/share/man:\$MANPATH\"" ;;
    esac
fi
case "${SHELL:-}:${prefix}" in
    *zsh:/usr|*zsh:/usr/local) ;;
    *zsh:*) echo "zsh: add ${prefix}/share/zsh/site-functions to fpath before compinit, e.g. in ~/.zshrc:  fpath=(\"${prefix}/share/zsh/site-functions\" \$fpath)" ;;
esac
echo "In a repository, run: git train init"
