#!/usr/bin/env bash
# Builds the C test programs (tests/progs/*.c) and the examples
# (examples/*.c) into tests/build/NAME.o with clang-19, as a BPF developer
# would: clang-19 -O2 -g -target bpf -c, against the system's linux/bpf.h and
# libbpf's bpf/bpf_helpers.h. A program may add flags with a line
# `// cflags: ...` (e.g. -mcpu=v4). Also builds xdp_count.bpfeb.o, a
# big-endian object that bpfx must refuse. Objects newer than their source
# and this script are kept. The tests run this script themselves; it exits
# non-zero, saying why, when clang-19 or a header is missing.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="$root/tests/build"
script="$root/tests/build-progs.sh"

if ! command -v clang-19 >/dev/null; then
    echo "build-progs: clang-19 not found; scripts/install-deps installs it" >&2
    exit 1
fi
if [ ! -f /usr/include/bpf/bpf_helpers.h ]; then
    echo "build-progs: /usr/include/bpf/bpf_helpers.h not found; scripts/install-deps installs libbpf-dev" >&2
    exit 1
fi
# linux/bpf.h includes asm/types.h, which Debian keeps under the multiarch
# include directory that clang does not search for -target bpf.
multiarch="/usr/include/$(uname -m)-linux-gnu"
if [ ! -f "$multiarch/asm/types.h" ]; then
    echo "build-progs: $multiarch/asm/types.h not found; install linux-libc-dev" >&2
    exit 1
fi

# build SRC OBJ [FLAGS...]: compiles SRC unless OBJ is up to date.
build() {
    local src="$1" obj="$2" tmp
    shift 2
    if [ "$obj" -nt "$src" ] && [ "$obj" -nt "$script" ]; then
        return
    fi
    # Concurrent test binaries may build the same object: write a private
    # file and rename it into place, which is atomic.
    tmp="$(mktemp "$out/.$(basename "$obj").XXXXXX")"
    if ! clang-19 -O2 -g -Wall -Werror -I"$multiarch" "$@" -c "$src" -o "$tmp"; then
        rm -f "$tmp"
        echo "build-progs: compiling $src failed" >&2
        exit 1
    fi
    mv -f "$tmp" "$obj"
}

mkdir -p "$out"
for src in "$root"/tests/progs/*.c "$root"/examples/*.c; do
    read -r -a extra <<<"$(sed -n 's,^// cflags: ,,p' "$src")"
    build "$src" "$out/$(basename "${src%.c}").o" -target bpf "${extra[@]}"
done
# One big-endian object, which bpfx must refuse with a clear error.
build "$root/examples/xdp_count.c" "$out/xdp_count.bpfeb.o" -target bpfeb
