#!/usr/bin/env bash
# npm pack smoke test: does the package we would publish work for a consumer?
#
#   1. `npm pack` (dist/ must already be built) and check the tarball holds every file that
#      package.json's main/module/types/exports point at.
#   2. Install the tarball into an empty consumer project (its dependencies come from the registry).
#   3. Runtime, under each node in $SMOKE_NODES (default: `node`): `import("udpmux")` and
#      `require("udpmux")` expose UDPMux and MuxedConnection, and each resolves to the file the
#      exports map names for that condition (Node >= 20.19 can require() ESM, so a bare "require
#      works" would not prove the CJS build is used). Same for "udpmux/werift" if exported.
#   4. Types, with the repo's own tsc (--module nodenext --moduleResolution nodenext --strict, no
#      skipLibCheck): an ESM consumer ("type": "module", .ts) and a CJS consumer (.cts) each import
#      `{ UDPMux, type UDPMuxOptions }`, and each picks the declaration file its condition names.
#      `udpmux/werift` too, werift's own declarations included: with @types/multicast-dns beside
#      werift (as the README tells users), no skipLibCheck is needed.
#   5. A git dependency: `npm install git+file://<a fresh clone>#<commit>` in another empty project.
#      npm runs no `prepack` for git dependencies, only `prepare` (with devDependencies installed):
#      the package must build itself there, and load as ESM and CJS under each node. The clone is of
#      HEAD; a working tree with uncommitted changes is committed on top, in the clone only, so the
#      check sees what a commit of it would be.
#
# Usage: bash scripts/pack-smoke.sh   (from anywhere; works on the repo this script lives in)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO=$PWD
TSC="$REPO/node_modules/.bin/tsc"
read -r -a NODES <<<"${SMOKE_NODES:-node}"

[[ -x $TSC ]] || { echo "error: $TSC missing; run npm ci first" >&2; exit 1; }
[[ -d dist ]] || { echo "error: dist/ missing; run npm run build first" >&2; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/udpmux-pack-smoke.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

step() { printf -- '-- %s\n' "$*"; }

# --- 1. pack --------------------------------------------------------------------------------------
step "npm pack"
# --ignore-scripts: dist/ is built already (`prepare` would rebuild it and print into the JSON on stdout)
npm pack --json --ignore-scripts --pack-destination "$WORK" >"$WORK/pack.json"
TARBALL="$WORK/$(node -p 'require(process.argv[1])[0].filename' "$WORK/pack.json")"
node - "$WORK/pack.json" <<'EOF'
const [{ filename, size, unpackedSize, files }] = require(process.argv[2]);
console.log(`${filename}: ${files.length} files, ${size} B packed, ${unpackedSize} B unpacked`);
for (const f of files) console.log(`   ${String(f.size).padStart(8)}  ${f.path}`);
EOF

step "every file package.json points at is in the tarball"
node - "$WORK/pack.json" <<'EOF'
const pkg = require("./package.json");
const packed = new Set(require(process.argv[2])[0].files.map((f) => f.path.replace(/^\.\//, "")));
const targets = new Set();
const walk = (v) => {
  if (typeof v === "string") targets.add(v);
  else if (v && typeof v === "object") for (const x of Object.values(v)) walk(x);
};
walk(pkg.exports);
for (const k of ["main", "module", "types", "typings"]) if (pkg[k]) targets.add(pkg[k]);
const missing = [...targets].map((t) => t.replace(/^\.\//, "")).filter((t) => !t.includes("*") && !packed.has(t));
if (missing.length) {
  console.error(`error: package.json points at files missing from the tarball: ${missing.join(", ")}`);
  process.exit(1);
}
console.log(`ok: ${targets.size} targets`);
EOF

# --- 2. consumer project ---------------------------------------------------------------------------
CONSUMER="$WORK/consumer"
mkdir -p "$CONSUMER"
cat >"$CONSUMER/package.json" <<'EOF'
{ "name": "udpmux-pack-smoke", "version": "0.0.0", "private": true, "type": "module" }
EOF

# What a TypeScript consumer on Node has beside us: @types/node (the repo's version, so the
# check sees what CI's typecheck saw), and werift if we export an adapter for it and it did
# not come in as a peer dependency.
deps=("$TARBALL")
TYPES_NODE=$(node -p 'require("./node_modules/@types/node/package.json").version')
deps+=("@types/node@$TYPES_NODE")
HAS_WERIFT=$(node -p 'Boolean(require("./package.json").exports?.["./werift"])')
if [[ $HAS_WERIFT == true ]]; then
  WERIFT_RANGE=$(node -p 'const p = require("./package.json"); p.peerDependencies?.werift ?? p.devDependencies?.werift ?? ""')
  deps+=("werift${WERIFT_RANGE:+@$WERIFT_RANGE}")
  # werift's .d.ts import "multicast-dns", which ships no types: its @types package (the repo's
  # version) is what lets a consumer type-check werift without skipLibCheck.
  TYPES_MDNS=$(node -p 'require("./node_modules/@types/multicast-dns/package.json").version')
  deps+=("@types/multicast-dns@$TYPES_MDNS")
fi
step "npm install (in $CONSUMER): $(basename "$TARBALL") ${deps[*]:1}"
(cd "$CONSUMER" && npm install --no-audit --no-fund "${deps[@]}")

# --- 3. runtime -----------------------------------------------------------------------------------
# Expected file for entry point ENTRY (".", "./werift") under CONDITION ("import", "require").
# shellcheck disable=SC2016 # the ${...} are JavaScript template literals
expected() {
  node -e '
    const [entry, cond, kind] = process.argv.slice(1);
    const e = require("./package.json").exports[entry];
    // TypeScript: an explicit "types" wins; else the .d.ts/.d.cts/.d.mts beside the JS target.
    const dts = (js) => (kind === "types" && typeof js === "string" ? js.replace(/\.([cm]?)js$/, ".d.$1ts") : js);
    const c = typeof e === "string" ? e : (e[cond] ?? e.default);
    const t = typeof c === "string" ? (kind === "types" && typeof e === "object" && e.types) || dts(c)
      : (c?.[kind] ?? dts(c?.default));
    if (typeof t !== "string") throw new Error(`no ${kind} target for ${entry} under ${cond}`);
    console.log(require("node:path").resolve(process.argv[4], t));
  ' "$1" "$2" "$3" "$CONSUMER/node_modules/udpmux"
}

check_runtime() { # check_runtime NODE SPECIFIER ENTRY EXPECTED_EXPORTS...
  local node=$1 spec=$2 entry=$3
  shift 3
  local want_esm want_cjs
  want_esm=$(expected "$entry" import default)
  want_cjs=$(expected "$entry" require default)
  (cd "$CONSUMER" && "$node" --input-type=module - "$spec" "$want_esm" "$@") <<'EOF'
import { fileURLToPath } from "node:url";
const [spec, want, ...names] = process.argv.slice(2);
const got = fileURLToPath(import.meta.resolve(spec));
if (got !== want) throw new Error(`import("${spec}") resolved to ${got}, expected ${want}`);
const m = await import(spec);
for (const n of names) if (typeof m[n] !== "function") throw new Error(`import("${spec}").${n} is ${typeof m[n]}`);
console.log(`ok  ${process.version}  ESM  import("${spec}") -> ${got.split("/node_modules/")[1]}  [${Object.keys(m).join(", ")}]`);
EOF
  (cd "$CONSUMER" && "$node" - "$spec" "$want_cjs" "$@") <<'EOF'
const [spec, want, ...names] = process.argv.slice(2);
const got = require.resolve(spec);
if (got !== want) throw new Error(`require("${spec}") resolved to ${got}, expected ${want}`);
const m = require(spec);
for (const n of names) if (typeof m[n] !== "function") throw new Error(`require("${spec}").${n} is ${typeof m[n]}`);
console.log(`ok  ${process.version}  CJS  require("${spec}") -> ${got.split("/node_modules/")[1]}  [${Object.keys(m).join(", ")}]`);
EOF
}

step "runtime: ESM import and CJS require"
for node in "${NODES[@]}"; do
  check_runtime "$node" udpmux . UDPMux MuxedConnection
  if [[ $HAS_WERIFT == true ]]; then
    check_runtime "$node" udpmux/werift ./werift attachUDPMux createPeerConnectionFactory
  fi
done

# --- 4. types -------------------------------------------------------------------------------------
cat >"$CONSUMER/esm.ts" <<'EOF'
import { MuxedConnection, UDPMux, type UDPMuxOptions } from "udpmux";
// @ts-expect-error proves the checker reads the real declarations: this export does not exist
import { NotAnExportOfUdpmux } from "udpmux";

export const classes: readonly [typeof UDPMux, typeof MuxedConnection] = [UDPMux, MuxedConnection];
export type Options = UDPMuxOptions;
export const unused: unknown = NotAnExportOfUdpmux;
EOF
sed 's/^export type Options/export type CjsOptions/' "$CONSUMER/esm.ts" >"$CONSUMER/cjs.cts"

# Only @types/node among ambient types (as in the repo's tsconfig): the consumer's node_modules/@types
# also holds what werift drags in (@types/dom-webcodecs clashes with lib.dom), which is not ours.
TSC_FLAGS=(--noEmit --strict --module nodenext --moduleResolution nodenext --target es2022 --types node)

check_types() { # check_types FILE CONDITION ENTRY [EXTRA TSC FLAGS...]
  local file=$1 cond=$2 entry=$3 want listed
  shift 3
  want=$(expected "$entry" "$cond" types)
  if ! listed=$(cd "$CONSUMER" && "$TSC" "${TSC_FLAGS[@]}" "$@" --listFiles "$file"); then
    (cd "$CONSUMER" && "$TSC" "${TSC_FLAGS[@]}" "$@" "$file") || true
    echo "error: tsc failed on the $cond consumer ($file)" >&2
    return 1
  fi
  if ! grep -qxF "$want" <<<"$listed"; then
    grep udpmux <<<"$listed" || true
    echo "error: $file ($cond) did not load $want" >&2
    return 1
  fi
  echo "ok  tsc $("$TSC" --version | cut -d' ' -f2) $* $file ($cond) -> ${want#"$CONSUMER/node_modules/"}"
}

step "types: tsc nodenext, ESM and CJS consumers"
check_types esm.ts import .
check_types cjs.cts require .

if [[ $HAS_WERIFT == true ]]; then
  # That the subpath's declarations resolve per condition, and that werift's own declarations
  # type-check without skipLibCheck given @types/multicast-dns (and `--types node`, as TSC_FLAGS: see
  # above; werift 0.25's mediabunny brings @types/dom-webcodecs, which clashes with lib.dom).
  cat >"$CONSUMER/werift-esm.ts" <<'EOF'
import { attachUDPMux, createPeerConnectionFactory } from "udpmux/werift";
import { RTCPeerConnection } from "werift";
import { UDPMux } from "udpmux";

export async function answer(): Promise<RTCPeerConnection> {
  const mux = await UDPMux.bind({ port: 0 });
  return attachUDPMux(new RTCPeerConnection({ bundlePolicy: "max-bundle" }), mux);
}

// the factory's config and result are werift's own types
export async function answerFromFactory(): Promise<RTCPeerConnection> {
  const mux = await UDPMux.bind({ port: 0 });
  const newPeerConnection = createPeerConnectionFactory(RTCPeerConnection, mux, { closeOnFailure: true });
  return newPeerConnection({ iceUseTcp: false });
}
EOF
  sed 's/answer()/answerCjs()/' "$CONSUMER/werift-esm.ts" >"$CONSUMER/werift-cjs.cts"
  check_types werift-esm.ts import ./werift
  check_types werift-cjs.cts require ./werift

  # A CommonJS project on the old resolution (`moduleResolution: node`/`node10`) ignores `exports`:
  # `typesVersions` in package.json is what points it at the subpath's declarations. Such a project
  # needs esModuleInterop to check werift's .d.ts (they default-import multicast-dns's `export =`).
  printf 'import { attachUDPMux } from "udpmux/werift";\nimport { UDPMux } from "udpmux";\nexport const a: unknown[] = [attachUDPMux, UDPMux];\n' >"$CONSUMER/node10.ts"
  if ! (cd "$CONSUMER" && "$TSC" --noEmit --strict --module commonjs --moduleResolution node10 --target es2022 \
    --types node --esModuleInterop --ignoreDeprecations 5.0 node10.ts); then
    echo "error: a moduleResolution node10 consumer can't resolve udpmux/werift" >&2
    exit 1
  fi
  echo "ok  tsc --module commonjs --moduleResolution node10 --esModuleInterop node10.ts (udpmux, udpmux/werift)"
fi

step "class names survive the build (stack traces, constructor.name)"
(cd "$CONSUMER" && node -e '
  const m = require("udpmux");
  for (const n of ["UDPMux", "TCPMux", "MuxedConnection", "MuxClosedError"]) {
    if (m[n] && m[n].name !== n) throw new Error(`${n}.name is ${m[n].name}`);
  }
  console.log("ok  class names kept");
')

# --- 5. git dependency ----------------------------------------------------------------------------
# What `npm install "git+https://…/udpmux.git#main"` does, from a local clone: npm clones it, installs
# its dependencies and devDependencies, runs `prepare` (the build), packs and installs the result.
SRC="$WORK/udpmux-src"
step "git clone $REPO (HEAD $(git -C "$REPO" rev-parse --short HEAD))"
git clone --quiet "$REPO" "$SRC"
git -C "$SRC" checkout --quiet --detach "$(git -C "$REPO" rev-parse HEAD)"
if [[ -n $(git -C "$REPO" status --porcelain) ]]; then
  # Tracked files as they are now (deleted ones go) and untracked ones that are not ignored.
  find "$SRC" -mindepth 1 -maxdepth 1 ! -name .git -exec rm -rf {} +
  git -C "$REPO" ls-files -z --cached --others --exclude-standard |
    (cd "$REPO" && tar --null --files-from=- --ignore-failed-read -cf - 2>/dev/null) | tar -C "$SRC" -xf -
  git -C "$SRC" add -A
  git -C "$SRC" -c user.name=pack-smoke -c user.email=pack-smoke@localhost commit --quiet --allow-empty \
    -m "pack smoke: the working tree of $REPO"
  echo "uncommitted changes: committed on top of HEAD in the clone"
fi
GIT_SPEC="git+file://$SRC#$(git -C "$SRC" rev-parse HEAD)"
CONSUMER="$WORK/git-consumer" # check_runtime and expected() read $CONSUMER
mkdir -p "$CONSUMER"
cat >"$CONSUMER/package.json" <<'EOF'
{ "name": "udpmux-git-smoke", "version": "0.0.0", "private": true, "type": "module" }
EOF
step "npm install (in $CONSUMER): $GIT_SPEC"
if ! (cd "$CONSUMER" && npm install --no-audit --no-fund "$GIT_SPEC"); then
  echo "error: npm install $GIT_SPEC failed (did \`prepare\` build dist/?)" >&2
  exit 1
fi
[[ -f $CONSUMER/node_modules/udpmux/package.json ]] || { echo "error: $GIT_SPEC installed no udpmux" >&2; exit 1; }
if [[ ! -d $CONSUMER/node_modules/udpmux/dist ]]; then
  echo "error: udpmux from git has no dist/: npm ran no build (package.json needs \"prepare\")" >&2
  exit 1
fi
step "git dependency, runtime: ESM import and CJS require"
for node in "${NODES[@]}"; do
  check_runtime "$node" udpmux . UDPMux MuxedConnection
  if [[ $HAS_WERIFT == true ]]; then
    check_runtime "$node" udpmux/werift ./werift attachUDPMux createPeerConnectionFactory
  fi
done

echo "pack smoke: OK"
