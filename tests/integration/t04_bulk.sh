#!/usr/bin/env bash
# lab_bulk_transfer: a 50 MB download through the VIP arrives intact (sha256 against the file
# every RS serves), and a 50 MB upload (PUT, nginx dav) arrives intact on the RS that took it.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh" "$@"

lab_begin
node_up 1
wait_vip 30

want=$(cat "$STATE/big.sha256")
cl timeout 150 curl -s --connect-timeout 2 -m 120 -o "$STATE/download.bin" \
  -w '%{http_code} %{size_download} %{speed_download}\n' "$URL/big" >"$STATE/download.txt" ||
  fail "download failed: $(cat "$STATE/download.txt")"
read -r code size speed <"$STATE/download.txt"
assert_eq "$code" 200 "GET /big status"
assert_eq "$size" $((50 * 1024 * 1024)) "downloaded bytes"
assert_eq "$(sha_of "$STATE/download.bin")" "$want" "sha256 of the download"
log "download: 50 MB intact, $(awk -v s="$speed" 'BEGIN{printf "%.1f", s*8/1e6}') Mbit/s"
rm -f "$STATE/download.bin"

head -c $((50 * 1024 * 1024)) /dev/urandom >"$STATE/upload.bin"
sent=$(sha_of "$STATE/upload.bin")
name=t04-$$.bin
cl timeout 150 curl -s --connect-timeout 2 -m 120 -o /dev/null -T "$STATE/upload.bin" \
  -w '%{http_code} %{size_upload} %{speed_upload}\n' "$URL/upload/$name" >"$STATE/upload.txt" ||
  fail "upload failed: $(cat "$STATE/upload.txt")"
read -r code size speed <"$STATE/upload.txt"
[[ $code == 201 || $code == 204 ]] || fail "PUT /upload/$name answered $code"
got=()
for k in 1 2 3; do [[ -e $STATE/rs$k/upload/$name ]] && got+=("rs$k"); done
assert_eq "${#got[@]}" 1 "number of RS holding the upload"
assert_eq "$(sha_of "$STATE/${got[0]}/upload/$name")" "$sent" "sha256 of the upload on ${got[0]}"
log "upload: 50 MB intact on ${got[0]}, $(awk -v s="$speed" 'BEGIN{printf "%.1f", s*8/1e6}') Mbit/s"
rm -f "$STATE/upload.bin" "$STATE/${got[0]}/upload/$name"

if is_anylb; then
  s=$(anylb_stats 1) || fail "no stats from anylbd"
  log "anylbd: forwarded=$(sget "$s" 'workers.*.forwarded') dropped=$(sget "$s" 'workers.*.dropped')"
  assert_eq "$(sget "$s" 'ports.*.tx_dropped')" 0 "ports' tx_dropped"
fi
pass
