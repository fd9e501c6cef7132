# shellcheck shell=bash
# The crates wasp publishes, packed as `cargo publish` would upload them.
# Sourced by scripts/check-packages and scripts/check-outside from the
# repository's root; `pack_crates` sets:
#   crates        the publishable crates: the workspace members without
#                 `publish = false`
#   version       their version (wasp's crates share one)
#   target_dir    cargo's target directory
#   crate_file    a function: the `.crate` file of a crate, in target/package/
# `--no-verify`: compiling the packed crates is the job of the tests that
# build from them (scripts/check-outside).

pack_crates() {
    local metadata
    metadata="$(cargo metadata --format-version 1 --no-deps)"
    mapfile -t crates < <(python3 -c '
import json, sys
meta = json.load(sys.stdin)
members = set(meta["workspace_members"])
for p in meta["packages"]:
    if p["id"] in members and p.get("publish") != []:
        print(p["name"])
' <<<"$metadata")
    target_dir="$(python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])' <<<"$metadata")"
    version="$(python3 -c '
import json, sys
print({p["version"] for p in json.load(sys.stdin)["packages"] if p["name"] == "wasp-runtime"}.pop())' <<<"$metadata")"
    echo "== publishable crates: ${crates[*]}"
    local args=() c
    for c in "${crates[@]}"; do args+=(-p "$c"); done
    cargo package --no-verify --allow-dirty "${args[@]}"
}

crate_file() {
    echo "$target_dir/package/$1-$version.crate"
}
