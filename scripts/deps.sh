#!/usr/bin/env bash
# Installs (or names) what Passerelle needs on a Debian/Ubuntu machine.
#   scripts/deps.sh demo   build + run the demo
#   scripts/deps.sh test   + redis-server for the test suite
#   scripts/deps.sh ci     + rustfmt, clippy, cargo-deny
# Safe to run again: it installs only what is missing.
set -euo pipefail

purpose="${1:-test}"

# System packages: C toolchain and pkg-config for -sys crates; libclang-dev and
# libxmlsec1-dev for samael's XML signatures (SAML, issue #3); redis-server for tests.
packages=(build-essential pkg-config libclang-dev libxmlsec1-dev libxml2-dev libssl-dev)
case "$purpose" in
  # redis-server: store tests; xmlsec1 + python3-venv: pysaml2, the independent SAML IdP
  # the interoperability tests install from PyPI into target/pysaml2-venv.
  # nodejs + npm: openid-client, the independent OIDC relying party the interoperability
  # tests install from npm into target/openid-client (skipped when node is already there).
  # chromium + chromium-driver: the browser test (headless Chromium, axe-core from npm).
  test|ci)
    packages+=(redis-server xmlsec1 python3 python3-venv chromium chromium-driver)
    command -v npm >/dev/null || packages+=(nodejs npm)
    ;;
  demo) ;;
  *) echo "usage: $0 [demo|test|ci]" >&2; exit 2 ;;
esac

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  if ! command -v apt-get >/dev/null; then
    echo "deps: missing packages ${missing[*]} and no apt-get here: install them with your package manager" >&2
    exit 1
  fi
  if [[ $(id -u) -eq 0 ]]; then
    sudo=()
  elif command -v sudo >/dev/null; then
    sudo=(sudo)
  else
    echo "deps: missing packages: ${missing[*]}" >&2
    echo "deps: run as root: apt-get update && apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  echo "deps: installing ${missing[*]}" >&2
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null; then
  echo "deps: no Rust toolchain: install Rust 1.95 or later (https://rustup.rs), then run this again" >&2
  exit 1
fi
rust_minor=$(rustc --version | sed -E 's/^rustc 1\.([0-9]+).*/\1/')
if ((rust_minor < 95)); then
  echo "deps: Rust $(rustc --version) is too old: Passerelle needs 1.95 or later (rustup update)" >&2
  exit 1
fi

if [[ "$purpose" == ci ]]; then
  for c in rustfmt clippy; do
    if ! cargo "${c/rustfmt/fmt}" --version >/dev/null 2>&1; then
      rustup component add "$c"
    fi
  done
  if ! command -v cargo-deny >/dev/null; then
    echo "deps: installing cargo-deny (one-time, a few minutes)" >&2
    cargo install --locked cargo-deny >/dev/null
  fi
fi
