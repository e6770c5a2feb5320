# Shared by scripts/run, scripts/test and scripts/bench: finds or installs every tool the
# project needs, pinned, and installs nothing that is already there. Source it; don't run it.
#
# Everything lands under one cache folder outside the clone (POSTSIEGEL_DEV_CACHE, default
# ~/.cache/postsiegel): tools, the cargo target folder, the npm cache.
#
# The scripts' and tests' own variables are named POSTSIEGEL_DEV_*: the server ignores that
# prefix (every other POSTSIEGEL_* variable is configuration, and a misspelt one stops it).

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${POSTSIEGEL_DEV_CACHE:-$HOME/.cache/postsiegel}
TOOLS=$CACHE/tools
export CARGO_TARGET_DIR=$CACHE/target
export npm_config_cache=$CACHE/npm
export PATH=$TOOLS/bin:$ROOT/end2end/node_modules/.bin:$HOME/.cargo/bin:$PATH
mkdir -p "$TOOLS/bin"

TRUNK_VERSION=0.21.14
# Debian packages by purpose. The browser and the real decryptors are test-only.
APT_RUN=()
# The real decryptors of authorities' mail clients: OpenSSL, gpgsm (KMail, GpgOL), NSS
# (Thunderbird); Python's email package as an independent MIME parser; a real LDAP server
# (OpenLDAP's slapd and ldapadd), as state PKIs run to publish certificates and CRLs.
# python3-venv: Debian's python3 cannot make a venv (for aiosmtpd, below) without it.
# The three browser engines: Chromium; Firefox ESR; WebKitGTK (Safari's engine) with its
# WebKitWebDriver and MiniBrowser, which needs an X display (xvfb-run, with xauth).
# Postfix: a real mail server that bounces, for the return path (its own instance per test;
# the package's system service is never started here).
APT_TEST=(chromium chromium-driver firefox-esr webkit2gtk-driver xvfb xauth openssl gpgsm
  libnss3-tools python3 python3-venv slapd ldap-utils postfix)

# Tools are installed with a quick release profile: their own speed hardly matters here, and
# LTO with one codegen unit doubles the time it takes to compile Trunk on 2 cores.
quick_install() {
  CARGO_TARGET_DIR=$CACHE/tools-build CARGO_PROFILE_RELEASE_LTO=false \
    CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 CARGO_PROFILE_RELEASE_OPT_LEVEL=1 \
    CARGO_PROFILE_RELEASE_DEBUG=false cargo install --quiet --root "$TOOLS" "$@"
}

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf '\033[1;31merror:\033[0m %s\n' "$*" >&2; exit 1; }

need_command() { # name, what to install
  command -v "$1" >/dev/null 2>&1 || die "'$1' is missing. Install $2, then run this again."
}

ensure_base() {
  need_command cargo "Rust 1.95 with rustup (https://rustup.rs)"
  need_command rustup "rustup (https://rustup.rs)"
  need_command node "Node.js 20 or newer (Debian: apt-get install nodejs npm)"
  need_command npm "npm (Debian: apt-get install npm)"
  local node_major
  node_major=$(node -p 'process.versions.node.split(".")[0]')
  [ "$node_major" -ge 18 ] || die "Node.js $node_major is too old; install Node.js 20 or newer."
  if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    say "adding the Rust target wasm32-unknown-unknown"
    rustup target add wasm32-unknown-unknown
  fi
}

# Installs missing Debian packages when root; otherwise names them and stops.
ensure_apt() {
  local missing=() pkg
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' \
      || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    die "missing Debian packages: ${missing[*]}. Install them with: sudo apt-get install ${missing[*]}"
  fi
  say "installing Debian packages: ${missing[*]}"
  # Postfix asks how to configure the system's mail; the tests bring their own.
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

ensure_trunk() {
  if [ "$(trunk --version 2>/dev/null)" != "trunk $TRUNK_VERSION" ]; then
    say "installing trunk $TRUNK_VERSION (several minutes on 2 cores, once)"
    quick_install --locked trunk --version "$TRUNK_VERSION"
  fi
}

# wasm-bindgen-cli must match the wasm-bindgen crate in Cargo.lock exactly.
ensure_wasm_bindgen() {
  local version
  version=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/[^0-9.]/, ""); print }' \
    "$ROOT/Cargo.lock")
  [ -n "$version" ] || die "cannot find the wasm-bindgen version in Cargo.lock"
  if [ "$(wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen $version" ] \
    || ! command -v wasm-bindgen-test-runner >/dev/null; then
    say "installing wasm-bindgen-cli $version (a few minutes, once)"
    # Without --locked: its lockfile names a crate version the registry lacks.
    quick_install --force wasm-bindgen-cli --version "$version"
  fi
}

# Playwright, axe and binaryen (wasm-opt) from end2end/package-lock.json.
ensure_npm() {
  local stamp=$ROOT/end2end/node_modules/.postsiegel-lock
  if [ ! -f "$stamp" ] || ! cmp -s "$stamp" "$ROOT/end2end/package-lock.json"; then
    say "installing the npm packages of end2end/"
    (cd "$ROOT/end2end" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund \
      --loglevel=error)
    cp "$ROOT/end2end/package-lock.json" "$stamp"
  fi
}

ensure_build_tools() {
  ensure_base
  ensure_apt "${APT_RUN[@]}"
  ensure_npm
  ensure_trunk
  ensure_wasm_bindgen
}

# cargo-fuzz for scripts/fuzz; the fuzz targets build with the nightly toolchain.
ensure_fuzz_tools() {
  ensure_base
  rustup toolchain list | grep -q '^nightly' \
    || die "scripts/fuzz needs Rust nightly: rustup toolchain install nightly"
  if [ "$(cargo fuzz --version 2>/dev/null)" != "cargo-fuzz 0.13.2" ]; then
    say "installing cargo-fuzz 0.13.2 (a few minutes, once)"
    quick_install --locked cargo-fuzz --version 0.13.2
  fi
}

# A venv of Debian's python3 (not whatever python3 comes first on PATH, so every machine
# builds the same venv) with exactly `requirements`, dependencies pinned too. A stamp
# records what was installed.
ensure_venv() { # folder, module that must import, requirements...
  local venv=$1 module=$2
  shift 2
  local stamp=$venv/.postsiegel-requirements
  if [ "$(cat "$stamp" 2>/dev/null)" != "$*" ] \
    || ! "$venv/bin/python" -c "import $module" >/dev/null 2>&1; then
    say "installing $* from PyPI into the venv $venv (once)"
    rm -rf "$venv"
    /usr/bin/python3 -m venv "$venv" || die "cannot create a Python venv: install python3-venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-cache-dir "$@" \
      || die "pip could not install $*"
    printf '%s' "$*" >"$stamp"
  fi
}

ensure_python_tools() {
  # aiosmtpd: the SMTP server of the relay tests; dkimpy: an independent DKIM verifier.
  ensure_venv "$CACHE/venv" aiosmtpd \
    aiosmtpd==1.4.6 atpublic==9.0.0 attrs==26.1.0 dkimpy==1.1.8 dnspython==2.7.0
  export POSTSIEGEL_DEV_PYTHON=$CACHE/venv/bin/python
  # schemathesis: the API's contract checked against the running server (tests/contract.rs).
  ensure_venv "$CACHE/schemathesis" schemathesis \
    schemathesis==4.32.5 anyio==4.16.0 certifi==2026.10.19.post1 charset-normalizer==3.5.3 \
    click==8.5.1 graphql-core==3.3.2 harfile==0.6.0 hypothesis==6.170.17 \
    hypothesis-graphql==0.13.5 idna==3.20 iniconfig==2.3.1 jsonschema_rs==0.60.3 \
    markdown-it-py==4.3.0 MarkupSafe==3.0.4 mdurl==0.1.2 packaging==26.4 pluggy==1.7.0 \
    Pygments==2.21.0 pyrate-limiter==4.5.1 pytest==9.2.0 PyYAML==6.0.4 requests==2.34.2 \
    rich==15.0.0 sortedcontainers==2.4.0 typing_extensions==4.16.0 urllib3==2.8.0 \
    Werkzeug==3.1.9
  export POSTSIEGEL_DEV_SCHEMATHESIS=$CACHE/schemathesis/bin/schemathesis
}

ensure_test_tools() {
  ensure_build_tools
  ensure_apt "${APT_TEST[@]}"
  ensure_python_tools
}

# The browser benchmark page (webbench/) into $CARGO_TARGET_DIR/webbench: our wasm, PKI.js
# bundled from end2end's pinned npm package, and the test certificate as DER.
build_webbench() {
  local out=$CARGO_TARGET_DIR/webbench
  say "building the browser benchmark page"
  mkdir -p "$out"
  # The conversation module's profile (Cargo.toml): what the page measures is built as
  # the citizen's browser gets it.
  cargo build --profile wasm-conversation --quiet -p postsiegel-webbench --target wasm32-unknown-unknown
  wasm-bindgen --target web --out-dir "$out/pkg" \
    "$CARGO_TARGET_DIR/wasm32-unknown-unknown/wasm-conversation/postsiegel_webbench.wasm"
  cp "$ROOT"/webbench/page/* "$out/"
  (cd "$ROOT/end2end" && ./node_modules/.bin/esbuild bench/pkijs-entry.js --bundle --format=esm \
    --outfile="$out/pkijs.bundle.js" --log-level=warning)
  openssl x509 -in "$ROOT/smime/tests/fixtures/browser-test.pem" -outform DER \
    -out "$out/recipient.der"
  # The fixture's test key (public in the repository), to open answers in the benchmark.
  openssl pkcs8 -topk8 -nocrypt -in "$ROOT/smime/tests/fixtures/browser-test.key.pem" \
    -outform DER -out "$out/recipient.key.der"
  # Answers are encrypted to a conversation's key, RSA-3072: one made once, here.
  if [ ! -s "$out/conversation.key.der" ]; then
    openssl req -x509 -newkey rsa:3072 -nodes -keyout "$out/conversation.key.pem" \
      -subj "/CN=Postsiegel benchmark conversation" -days 3650 \
      -addext "keyUsage=digitalSignature,keyEncipherment" -out "$out/conversation.pem" 2>/dev/null
    openssl x509 -in "$out/conversation.pem" -outform DER -out "$out/conversation.der"
    openssl pkcs8 -topk8 -nocrypt -in "$out/conversation.key.pem" -outform DER \
      -out "$out/conversation.key.der"
  fi
  export POSTSIEGEL_DEV_WEBBENCH_DIR=$out
}

build_app() {
  say "building the app (trunk build --release)"
  (cd "$ROOT" && trunk build --release)
}

# The benchmarks, in the one order both commands run them: `scripts/bench` measures,
# `scripts/test` runs each once, small (POSTSIEGEL_DEV_BENCH_SMOKE=1), so that a smoke run
# takes the path of a measurement, the environment each step leaves behind included.
BENCHMARKS=(bench_encryption bench_search bench_relay bench_browser bench_pipeline bench_startup)

smoke() { [ -n "${POSTSIEGEL_DEV_BENCH_SMOKE:-}" ]; }

# Output to keep: bench-results/NAME when measuring, the log only in a smoke run.
keep() { # name
  if smoke; then cat; else tee "$ROOT/bench-results/$1"; fi
}

bench_encryption() {
  say "S/MIME core, natively: our encryption beside openssl cms -encrypt (criterion)"
  if smoke; then
    cargo test -p postsiegel-smime --bench encrypt --quiet
  else
    cargo bench -p postsiegel-smime --bench encrypt \
      && python3 "$ROOT/scripts/criterion_summary.py" "$CARGO_TARGET_DIR/criterion/encrypt" \
      | keep native-encrypt.txt
  fi
}

# A benchmark of the server's (benches/NAME.rs), which reads the smoke switch itself.
bench_server() { # name, what it measures
  say "$2"
  if smoke; then
    cargo test -p postsiegel-server --bench "$1" --quiet
  else
    cargo bench -p postsiegel-server --bench "$1" | keep "$1.txt"
  fi
}

bench_search() {
  bench_server search "Search as you type over 10,000 units, through HTTP (target: p95 under 50 ms)"
}

bench_relay() {
  bench_server relay \
    "The relay: accepted 100 KB submissions per second, and peak memory with 20 x 25 MB uploads"
}

bench_browser() {
  say "Encryption in the browser: ours beside WebCrypto AES-CBC alone and PKI.js (Playwright, Chromium)"
  build_webbench || return 1
  (cd "$ROOT/end2end" && npx playwright test -c playwright.bench.config.ts) | keep webcrypto.txt
}

# A benchmark in the browser against the real portal, built as the end-to-end tests run it.
on_portal() { # Playwright config, output name
  cargo build --quiet -p postsiegel-server --bin postsiegel || return 1
  build_app || return 1
  (cd "$ROOT/end2end" && POSTSIEGEL_DEV_BIN=$CARGO_TARGET_DIR/debug/postsiegel \
    npx playwright test -c "$1") | keep "$2"
}

bench_pipeline() {
  say "The send pipeline in the real app, from the file pick to the ciphertext, beside WebCrypto AES alone; the conversation key's generation (RSA-3072 beside 2048, Chromium also 4x slowed); opening an answer beside WebCrypto AES-CBC alone (the benchmark page); in Chromium, Firefox ESR and WebKitGTK"
  on_portal playwright.pipeline.config.ts pipeline.txt
}

bench_startup() {
  say "Start-up: the app's download (gzip) and navigation to an interactive form (Playwright, Chromium)"
  on_portal playwright.startup.config.ts startup.txt
}
