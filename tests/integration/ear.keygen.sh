#!/usr/bin/env bash
# vmesh keygen: every key type as PEM and as JWK, private files mode 0600,
# public files readable, keys usable for signing, refusal to overwrite, and a
# bad --type naming the accepted types.
set -u
VMESH_BIN=${VMESH_BIN:?VMESH_BIN must point at the vmesh binary}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work" || exit 1
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

mode_of() { stat -c %a "$1"; }

# A permissive umask must not leak into the private key's mode.
umask 000
for type in ec-p256 ec-p384 ed25519; do
    for fmt in pem jwk; do
        flag=""
        [ "$fmt" = jwk ] && flag="--jwk"
        key="$type.$fmt" pub="$type.pub.$fmt"
        out=$("$VMESH_BIN" keygen --type "$type" -o "$key" --pub "$pub" $flag) ||
            { fail "keygen $type $fmt exited $?"; continue; }
        # stdout: the base64url SHA-256 JWK thumbprint (43 characters).
        [[ "$out" =~ ^[A-Za-z0-9_-]{43}$ ]] || fail "$type $fmt: thumbprint output '$out'"
        [ "$(mode_of "$key")" = 600 ] || fail "$type $fmt: private key mode $(mode_of "$key")"
        [ "$(mode_of "$pub")" = 644 ] || fail "$type $fmt: public key mode $(mode_of "$pub")"
        if [ "$fmt" = pem ]; then
            grep -q -- "-----BEGIN PRIVATE KEY-----" "$key" || fail "$type: $key is not PKCS#8 PEM"
            grep -q -- "-----BEGIN PUBLIC KEY-----" "$pub" || fail "$type: $pub is not SPKI PEM"
            grep -q "PRIVATE" "$pub" && fail "$type: public PEM holds a private key"
            case $type in
            ec-p256) want="prime256v1|P-256" ;;
            ec-p384) want="secp384r1|P-384" ;;
            ed25519) want="ED25519" ;;
            esac
            openssl pkey -in "$key" -noout -text 2>/dev/null | grep -Eq "$want" ||
                fail "$type: openssl does not read $key as $want"
        else
            case $type in
            ec-p256) want='"crv":"P-256"' kty='"kty":"EC"' ;;
            ec-p384) want='"crv":"P-384"' kty='"kty":"EC"' ;;
            ed25519) want='"crv":"Ed25519"' kty='"kty":"OKP"' ;;
            esac
            tr -d ' \n' < "$key" | grep -q "$want" || fail "$type: $key lacks $want"
            tr -d ' \n' < "$key" | grep -q "$kty" || fail "$type: $key lacks $kty"
            tr -d ' \n' < "$key" | grep -q '"d":' || fail "$type: private JWK lacks d"
            tr -d ' \n' < "$pub" | grep -q '"d":' && fail "$type: public JWK holds d"
        fi
        # The key signs, and the public half verifies.
        cat > claims.json <<'EOF'
{"eat_profile":"tag:github.com,2023:veraison/ear","iat":1700000000,
 "ear.verifier-id":{"developer":"vmesh-test","build":"1"},
 "submods":{"t":{"ear.status":"affirming"}}}
EOF
        "$VMESH_BIN" ear sign --key "$key" claims.json -o "$type.$fmt.jwt" ||
            fail "$type $fmt: ear sign failed"
        "$VMESH_BIN" ear verify --key "$pub" "$type.$fmt.jwt" > /dev/null ||
            fail "$type $fmt: ear verify with the public key failed"
    done
done
umask 022

# Default type is ec-p256.
"$VMESH_BIN" keygen -o default.pem > /dev/null || fail "keygen with default type"
openssl pkey -in default.pem -noout -text 2>/dev/null | grep -q prime256v1 ||
    fail "default type is not ec-p256"

# Existing files are not overwritten without --force.
before=$(cat default.pem)
err=$("$VMESH_BIN" keygen -o default.pem 2>&1 >/dev/null)
rc=$?
[ $rc = 1 ] || fail "overwrite refusal exited $rc, expected 1"
[[ "$err" == *"exists"*"--force"* ]] || fail "overwrite message: $err"
[ "$(cat default.pem)" = "$before" ] || fail "default.pem was changed"
"$VMESH_BIN" keygen -o other.pem --pub default.pem > /dev/null 2>&1 && fail "existing --pub overwritten"
[ -e other.pem ] && fail "other.pem written although --pub was refused"
"$VMESH_BIN" keygen -o default.pem --force > /dev/null || fail "--force did not overwrite"
[ "$(cat default.pem)" != "$before" ] || fail "--force left the old key"
[ "$(mode_of default.pem)" = 600 ] || fail "--force: mode $(mode_of default.pem)"

# A bad type names the accepted types.
err=$("$VMESH_BIN" keygen --type rsa2048 -o bad.pem 2>&1 >/dev/null)
rc=$?
[ $rc = 1 ] || fail "bad --type exited $rc, expected 1"
for t in ec-p256 ec-p384 ed25519; do
    [[ "$err" == *"$t"* ]] || fail "bad --type message does not name $t: $err"
done
[[ "$err" == *"rsa2048"* ]] || fail "bad --type message does not name the bad value: $err"
[ -e bad.pem ] && fail "bad.pem written for a bad type"

# Missing -o, stray argument, --help.
"$VMESH_BIN" keygen > /dev/null 2>&1
[ $? = 1 ] || fail "keygen without -o did not exit 1"
"$VMESH_BIN" keygen -o x.pem extra > /dev/null 2>&1
[ $? = 1 ] || fail "keygen with a stray argument did not exit 1"
"$VMESH_BIN" keygen --help | grep -q "exit codes" || fail "keygen --help lacks exit codes"

if [ $fails -ne 0 ]; then
    echo "$fails failure(s)"
    exit 1
fi
echo "ear.keygen: all checks passed"
