#!/usr/bin/env bash
# Installs the Debian bookworm packages dmoe needs (see README, "Dependencies").
# Idempotent: packages already present are left alone. Needs root or sudo.
set -euo pipefail
packages=(
  g++ cmake ninja-build ccache pkg-config       # toolchain
  libcaf-dev                                    # actors, middleman
  libssl-dev                                    # OpenSSL 3: the swarm's keys (dmoe-keys)
  libcapnp-dev capnproto                        # wire format
  libtorch-dev libopenblas0-pthread             # experts; OpenBLAS, or matmuls are ~20x slower
  libspdlog-dev libfmt-dev                      # logging, formatting
  zlib1g-dev                                    # reading the gzipped IDX data set
  libreadline-dev                               # dmoe-shell line editing and history
  libcli11-dev                                  # command-line parsing of dmoe-bench and dmoe-shell
  libasio-dev                                   # dmoe-link, the link emulator (header-only asio)
  iproute2                                      # ip/tc: the hosts.* tests' network namespaces
  dataset-fashion-mnist                         # real data: the classifier's images
  bible-kjv bible-kjv-text                      # real text: the language model's corpus
  libsentencepiece-dev                          # the language model's tokenizer
  gnuplot-nox                                   # the main job plots its metrics to a PNG
  clang-14 libclang-rt-14-dev                   # scripts/fuzz.sh: libFuzzer, ASan, UBSan
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi
sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
echo "install-deps: installing ${missing[*]}"
"${sudo_cmd[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
