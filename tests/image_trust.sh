#!/usr/bin/env bash
# Content trust through the real binaries (docs/trust.md): keys, signing,
# the policy file and every refusal of secret-launch with enforcement on
# (unsigned, --rootfs, untrusted key, threshold, wrong channel, expired,
# rollback, superseded, untrusted later), the grace period, expiry warnings,
# SECRET_CONTENT_TRUST, the log; broken key files and moved signatures.
. "$(dirname "$0")/image_lib.sh"
[ -x "$LAUNCH" ] || fail "secret-launch not given or not executable"
POL=$TMP/etc/secretd/trust.json
K=$TMP/keys
mkdir -p "$K" "$TMP/etc"
printf 'correct horse\n' >"$TMP/pass"
printf 'wrong horse\n' >"$TMP/badpass"
timg() { img --policy "$POL" "$@"; }
launch() { # ARGS...: OUT, ERR, RC
  OUT=$("$LAUNCH" "$@" 2>"$TMP/err"); RC=$?
  ERR=$(cat "$TMP/err")
  return $RC
}
run() { launch --image "$1" --store "$STORE" --policy "$POL" "${@:2}" -- /bin/echo ran; }
refused() { # REF REASON [ARGS...]: launch must fail naming REASON
  local ref=$1 why=$2
  shift 2
  run "$ref" "$@" && fail "$ref ran, want refusal: $why"
  case "$ERR" in *"$why"*) ;; *) fail "$ref: refused, but not for \"$why\": $ERR";; esac
}
runs() { run "$@" && [ "$OUT" = ran ] || fail "$1 did not run: $ERR"; }
sign() { timg sign "$@" --passphrase-file "$TMP/pass" || fail "sign $*: $ERR"; }

# distinct images: NAME:TAG with a config of its own (another digest)
mkumoci "$TMP/L" v1 || fail "umoci"
N=0
mkimg() {
  N=$((N + 1))
  rm -rf "$TMP/L$N"; cp -a "$TMP/L" "$TMP/L$N"
  umoci config --image "$TMP/L$N:v1" --config.env "U=$N" >/dev/null || fail "umoci config"
  img import "$TMP/L$N" --name "$1" || fail "import $1: $ERR"
}

# --- keys ---
for k in alice bob carol mallory; do
  img key generate $k --out "$K" --kdf-cost min --passphrase-file "$TMP/pass" || fail "key generate $k: $ERR"
done
[ "$(stat -c %a "$K/alice.key")" = 600 ] || fail "alice.key is not 0600"
grep -q '"memlimit": 8192' "$K/alice.key" || fail "the key file does not record the costs"
img key generate alice --out "$K" --kdf-cost min --passphrase-file "$TMP/pass" && fail "key generate overwrote a key"
img key generate x --out "$K" --kdf-cost cheap --passphrase-file "$TMP/pass" && fail "an unknown --kdf-cost was accepted"
pass "key generate: 0600 key file with its costs, never overwritten"

mkimg app:1
img sign app:1 --key "$K/alice.key" --channel prod --passphrase-file "$TMP/badpass" &&
  fail "signed with a wrong passphrase"
case "$ERR" in *"wrong passphrase"*) ;; *) fail "wrong passphrase: $ERR";; esac
head -c 200 "$K/alice.key" >"$TMP/trunc.key"
img sign app:1 --key "$TMP/trunc.key" --channel prod --passphrase-file "$TMP/pass" && fail "a truncated key signed"
case "$ERR" in *"truncated"*) ;; *) fail "truncated key: $ERR";; esac
python3 - "$K/alice.key" "$TMP/edited.key" "$TMP/huge.key" "$TMP/swapped.key" "$K/bob.key" <<'PY'
import base64, json, sys
k = json.load(open(sys.argv[1]))
e = dict(k); s = bytearray(base64.b64decode(e["sealed"])); s[0] ^= 1
e["sealed"] = base64.b64encode(bytes(s)).decode(); json.dump(e, open(sys.argv[2], "w"))
h = json.loads(json.dumps(k)); h["kdf"]["memlimit"] = 1 << 40; json.dump(h, open(sys.argv[3], "w"))
b = json.load(open(sys.argv[5])); w = dict(k); w["public"] = b["public"]; w["keyid"] = b["keyid"]
json.dump(w, open(sys.argv[4], "w"))
PY
img sign app:1 --key "$TMP/edited.key" --channel prod --passphrase-file "$TMP/pass" && fail "an edited key signed"
case "$ERR" in *"edited"*) ;; *) fail "edited key: $ERR";; esac
img sign app:1 --key "$TMP/huge.key" --channel prod --passphrase-file "$TMP/pass" && fail "a 1 TiB memlimit was tried"
case "$ERR" in *"out of bounds"*) ;; *) fail "hostile costs: $ERR";; esac
img sign app:1 --key "$TMP/swapped.key" --channel prod --passphrase-file "$TMP/pass" && fail "a key with another public key signed"
[ -n "$ERR" ] || fail "swapped public key: no message"
img sign app:1 --key "$K/alice.pub" --channel prod --passphrase-file "$TMP/pass" && fail "a .pub file signed"
pass "wrong passphrase, truncated, edited, hostile-cost and swapped key files refused clearly"

# --- policy file ---
timg policy require prod || fail "policy require: $ERR"
timg policy trust '*' --key "$K/alice.pub" --channel prod || fail "policy trust: $ERR"
timg policy trust 'two*' --key "$K/alice.pub" --channel prod --threshold 2 || fail "trust two*: $ERR"
timg policy trust 'two*' --key "$K/bob.pub" --channel prod || fail "trust two* bob: $ERR"
timg policy trust 'k*' --key "$K/carol.pub" --channel prod || fail "trust k* carol: $ERR"
timg policy enforce on || fail "policy enforce on: $ERR"
[ "$(stat -c '%a %u' "$POL")" = "644 0" ] || fail "policy file not 0644 root: $(stat -c '%a %u' "$POL")"
python3 - "$POL" <<'PY'
import json, sys
p = json.load(open(sys.argv[1])); p["scan"] = {"refuse_fixable_at": None, "max_scan_age": None}
json.dump(p, open(sys.argv[1], "w"))
PY
timg policy warn 14d || fail "policy warn: $ERR"
python3 -c 'import json,sys; p=json.load(open(sys.argv[1])); assert p["scan"]=={"refuse_fixable_at":None,"max_scan_age":None}, p' "$POL" ||
  fail "a policy edit lost the unknown \"scan\" section"
timg policy show || fail "policy show: $ERR"
case "$OUT" in *"enforce   on"*"require   prod"*"rule      two* channel prod threshold 2"*) ;; *) fail "policy show: $OUT";; esac
chmod g+w "$POL"
mkimg t:1
sign t:1 --key "$K/alice.key" --channel prod
refused t:1 "writable by group"
timg policy show && fail "policy show read a group-writable policy"
chmod g-w "$POL"
chown 1234 "$POL"
refused t:1 "owned by uid 1234"
chown 0 "$POL"
launch --image t:1 --store "$STORE" --policy "$TMP/no-such-policy.json" -- /bin/echo ran &&
  fail "a named policy that does not exist turned enforcement off"
case "$ERR" in *"does not exist"*) ;; *) fail "missing named policy: $ERR";; esac
pass "policy edits keep unknown top-level keys; a group-writable or foreign-owned policy is refused; a named policy must exist"

# --- launches with enforcement on ---
runs t:1
pass "a trusted signed image runs"
mkimg u:1
refused u:1 "unsigned"
SECRET_CONTENT_TRUST=0 run u:1 && fail "SECRET_CONTENT_TRUST=0 turned enforcement off"
launch --rootfs "$ROOTFS" --policy "$POL" -- /bin/echo ran && fail "a --rootfs directory ran"
case "$ERR" in *"rootfs"*"enforced"*) ;; *) fail "--rootfs: $ERR";; esac
pass "unsigned image and --rootfs directory refused; SECRET_CONTENT_TRUST=0 does not turn enforcement off"

mkimg m:1
sign m:1 --key "$K/mallory.key" --channel prod
refused m:1 "untrusted key"
mkimg two:1
sign two:1 --key "$K/alice.key" --channel prod
refused two:1 "threshold not met"
sign two:1 --key "$K/bob.key" --channel prod
runs two:1
timg inspect two:1 || fail "inspect: $ERR"
python3 - "$OUT" <<'PY' || fail "inspect does not show both signatures: $OUT"
import json, sys
s = json.loads(sys.argv[1])["signatures"]
assert len(s) == 2 and all(x["channel"] == "prod" and x["status"] == "ok" and x["counts"] and x["expires"] for x in s), s
assert len({x["signer"] for x in s}) == 2
PY
mkimg d:1
sign d:1 --key "$K/alice.key" --channel dev
refused d:1 "wrong channel"
pass "untrusted key, one of two signatures, dev signature on a prod host refused; two signers side by side run"

mkimg e:1
sign e:1 --key "$K/alice.key" --channel prod --expires 2s
sleep 3
refused e:1 "expired"
img ls --policy "$POL"
case "$ERR" in *"e:1"*"expired"*) ;; *) fail "ls does not warn of the expired signature: $ERR";; esac
timg policy grace 1h || fail "policy grace: $ERR"
runs e:1
case "$ERR" in *"grace"*) ;; *) fail "grace use not announced: $ERR";; esac
grep -q '"event":"grace".*"name":"e"' "$STORE/trust.log" || fail "grace use not logged"
timg policy grace 0 || fail "policy grace 0"
refused e:1 "expired"
pass "expired signature refused; the grace period lets it run, announced and logged"

# the default expiry: 90 days after signing (inspect shows issue and expiry)
mkimg f:1
sign f:1 --key "$K/alice.key" --channel prod
timg inspect f:1 || fail "inspect f:1: $ERR"
python3 - "$OUT" <<'PY' || fail "the default expiry is not 90 days: $OUT"
import datetime, json, sys
s = json.loads(sys.argv[1])["signatures"][0]
t = lambda x: datetime.datetime.strptime(x, "%Y-%m-%dT%H:%M:%SZ")
assert t(s["expires"]) - t(s["issued"]) == datetime.timedelta(days=90), s
PY
runs f:1
case "$ERR" in *warning*) fail "a warning 90 days before expiry: $ERR";; esac
pass "the default expiry is 90 days; no warning outside the window"

mkimg w:1
sign w:1 --key "$K/alice.key" --channel prod --expires 1d
runs w:1
case "$ERR" in *"expire in"*) ;; *) fail "no expiry warning at launch: $ERR";; esac
img ls --policy "$POL"
case "$ERR" in *"w:1"*"expires in"*) ;; *) fail "ls does not warn ahead of expiry: $ERR";; esac
pass "expiry announced ahead of time at launch and in ls"

mkimg r:1; mkimg r:2
sign r:1 --key "$K/alice.key" --channel prod
sign r:2 --key "$K/alice.key" --channel prod
timg sign r:1 --key "$K/alice.key" --channel prod --passphrase-file "$TMP/pass" && fail "signed a lower version"
mkimg r:x
timg sign r:x --key "$K/alice.key" --channel prod --passphrase-file "$TMP/pass" && fail "signed a non-numeric version"
runs r:2
refused r:1 "rollback" --allow-stale
mkimg s:1; mkimg s:2
sign s:1 --key "$K/alice.key" --channel prod
sign s:2 --key "$K/alice.key" --channel prod
refused s:1 "superseded"
runs s:1 --allow-stale
grep -q '"event":"stale".*"name":"s"' "$STORE/trust.log" || fail "--allow-stale not logged"
runs s:2
refused s:1 "rollback" --allow-stale
pass "rollback and superseded versions refused; --allow-stale runs a superseded one, logged"

mkimg k:1
sign k:1 --key "$K/carol.key" --channel prod
runs k:1
timg policy untrust "$K/carol.pub" || fail "policy untrust: $ERR"
refused k:1 "untrusted key"
timg policy trust 'k*' --key "$K/carol.pub" --channel prod && fail "a revoked key was trusted again"
pass "a key untrusted later stops counting for an image it signed earlier"

# signatures over another digest or name
HEX_U=$(img inspect u:1 && python3 -c 'import json,sys; print(json.loads(sys.argv[1])["digest"][7:])' "$OUT")
HEX_T=$(img inspect t:1 && python3 -c 'import json,sys; print(json.loads(sys.argv[1])["digest"][7:])' "$OUT")
cp "$STORE/images/$HEX_T/signatures/"*.dsse "$STORE/images/$HEX_U/signatures/" 2>/dev/null ||
  { mkdir -p "$STORE/images/$HEX_U/signatures" && cp "$STORE/images/$HEX_T/signatures/"*.dsse "$STORE/images/$HEX_U/signatures/"; }
timg policy warn 13d >/dev/null || fail "policy warn 13d"   # a policy change: verdicts recomputed
refused u:1 "another image"
img import "$TMP/L1" --name alias:1 || fail "import alias"   # app:1's digest under another name
timg policy require prod >/dev/null
sign app:1 --key "$K/alice.key" --channel prod
runs app:1
refused alias:1 "no signature names alias"
python3 - "$STORE/images/$HEX_T/signatures" <<'PY'
import base64, glob, json, sys
f = glob.glob(sys.argv[1] + "/*.dsse")[0]
e = json.load(open(f)); st = json.loads(base64.b64decode(e["payload"]))
st["version"] = 7; e["payload"] = base64.b64encode(json.dumps(st).encode()).decode()
json.dump(e, open(f, "w"))
PY
timg policy warn 14d >/dev/null
refused t:1 "does not verify"
pass "a signature moved to another image, a name it does not sign, or an edited statement does not verify"

mkimg v:1
# envelopes signed on another host: added to the same image only
S2=$TMP/store2
img2() { OUT=$("$IMG" --store "$S2" --policy "$POL" "$@" 2>"$TMP/err"); RC=$?; ERR=$(cat "$TMP/err"); return $RC; }
img2 import "$TMP/L1" --name app:1 || fail "import into a second store: $ERR"
img2 import "$TMP/L2" --name app:2 || fail "import app:2 into a second store: $ERR"
HEX_A=$(img inspect app:1 && python3 -c 'import json,sys; print(json.loads(sys.argv[1])["digest"][7:])' "$OUT")
ENVS=$(ls "$STORE/images/$HEX_A/signatures/"*.dsse)
img2 signature add app:2 $ENVS && fail "an envelope for another digest was added"
case "$ERR" in *"signature is over"*) ;; *) fail "signature add, other digest: $ERR";; esac
img2 signature add app:1 $ENVS || fail "signature add: $ERR"
OUT=$("$LAUNCH" --image app:1 --store "$S2" --policy "$POL" -- /bin/echo ran 2>"$TMP/err") && [ "$OUT" = ran ] ||
  fail "an image with added signatures did not run: $(cat "$TMP/err")"
pass "signature add takes envelopes made on another host for the same image only; they count there"

SECRET_CONTENT_TRUST=1 timg policy enforce off || fail "enforce off: $ERR"
runs v:1
SECRET_CONTENT_TRUST=1 refused v:1 "unsigned"
pass "SECRET_CONTENT_TRUST=1 turns enforcement on over a policy that has it off"

for e in check sign allow refuse grace stale policy; do
  grep -q "\"event\":\"$e\"" "$STORE/trust.log" || fail "no \"$e\" event in the trust log"
done
python3 -c '
import json, sys
for l in open(sys.argv[1]): json.loads(l)
' "$STORE/trust.log" || fail "the trust log is not JSON lines"
grep -q 'correct horse' "$STORE/trust.log" && fail "the passphrase is in the log"
pass "every check, signing, allow, refusal, grace and stale use is in the JSON-lines trust log"
