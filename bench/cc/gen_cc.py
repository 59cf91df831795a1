#!/usr/bin/env python3
"""Builds affirming SEV-SNP and TDX evidence for bench/cc with a generated
test chain shaped like the vendors' (AMD: RSA-4096 RSA-PSS ARK and ASK, a
P-384 VCEK with the KDS TCB extensions; Intel: P-256 root, PCK Platform CA,
PCK certificate with the SGX extension, TCB signing certificate and signed
TCB Info / QE Identity), plus the RV JSON that pins the test roots. Uses the
openssl command line only. Usage: gen_cc.py DIR"""
import json, os, struct, subprocess, sys, hashlib

D = sys.argv[1]
P = lambda n: os.path.join(D, n)


def run(*a, data=None):
    return subprocess.run(a, input=data, stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=True).stdout


def key(name, kind):
    if kind == "rsa":
        run("openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:4096", "-out", P(name))
    else:
        run("openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", f"ec_paramgen_curve:{kind}", "-out", P(name))


def cert(name, cn, k, issuer=None, issuer_key=None, ca=False, exts=(), pss=False):
    cfg = P(name + ".cnf")
    with open(cfg, "w") as f:
        f.write("[req]\ndistinguished_name=dn\n[dn]\n[ext]\n")
        f.write("basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n" if ca else "basicConstraints=CA:FALSE\n")
        for oid, der in exts:
            f.write(f"{oid}=DER:{der.hex()}\n")
    sig = ["-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:48", "-sha384"] if pss else ["-sha384"]
    if issuer is None:
        run("openssl", "req", "-new", "-x509", "-key", P(k), "-subj", f"/CN={cn}", "-days", "7300", "-set_serial", "1",
            "-config", cfg, "-extensions", "ext", "-out", P(name), *sig)
    else:
        run("openssl", "req", "-new", "-key", P(k), "-subj", f"/CN={cn}", "-config", cfg, "-out", P(name + ".csr"))
        run("openssl", "x509", "-req", "-in", P(name + ".csr"), "-CA", P(issuer), "-CAkey", P(issuer_key),
            "-set_serial", "2", "-days", "7300", "-extfile", cfg, "-extensions", "ext", "-out", P(name), *sig)
    return open(P(name)).read()


def der_of(name):
    return run("openssl", "x509", "-in", P(name), "-outform", "der")


def fp(name):
    return hashlib.sha256(der_of(name)).hexdigest()


def ecdsa_rs(k, msg, dgst, size):
    sig = run("openssl", "dgst", f"-{dgst}", "-sign", P(k), data=msg)
    # DER SEQUENCE { INTEGER r, INTEGER s }
    i = 2 if sig[1] < 0x80 else 2 + (sig[1] & 0x7f)
    out = []
    for _ in range(2):
        assert sig[i] == 2
        n = sig[i + 1]
        v = int.from_bytes(sig[i + 2:i + 2 + n], "big")
        out.append(v.to_bytes(size, "big"))
        i += 2 + n
    return out


def pubxy(k):
    der = run("openssl", "pkey", "-in", P(k), "-pubout", "-outform", "der")
    return der[-64:]


def tlv(tag, body):
    n = len(body)
    if n < 128:
        return bytes([tag, n]) + body
    if n < 256:
        return bytes([tag, 0x81, n]) + body
    return bytes([tag, 0x82, n >> 8, n & 0xff]) + body


# ---- SEV-SNP ------------------------------------------------------------------
key("ark.key", "rsa"); key("ask.key", "rsa"); key("vcek.key", "P-384")
chip = bytes([0x11]) * 64
tcb = 0x7308000000000003
spl = lambda oid, v: (oid, tlv(2, bytes([v])))
cert("ark.pem", "ARK-Bench", "ark.key", ca=True, pss=True)
cert("ask.pem", "SEV-Bench", "ask.key", "ark.pem", "ark.key", ca=True, pss=True)
cert("vcek.pem", "SEV-VCEK", "vcek.key", "ask.pem", "ask.key", pss=True, exts=[
    spl("1.3.6.1.4.1.3704.1.3.1", 3), spl("1.3.6.1.4.1.3704.1.3.2", 0), spl("1.3.6.1.4.1.3704.1.3.3", 8),
    spl("1.3.6.1.4.1.3704.1.3.8", 0x73), ("1.3.6.1.4.1.3704.1.4", chip)])
nonce = bytes([0x5a]) * 32
r = bytearray(0x4A0)
struct.pack_into("<IIQ", r, 0, 3, 0, 0x30000)
struct.pack_into("<I", r, 0x34, 1)
struct.pack_into("<Q", r, 0x38, tcb)
r[0x50:0x70] = nonce
r[0x90:0xC0] = bytes([0x4d]) * 48
struct.pack_into("<Q", r, 0x180, tcb)
r[0x188:0x18B] = b"\x19\x01\x01"
r[0x1A0:0x1E0] = chip
struct.pack_into("<Q", r, 0x1E0, tcb)
struct.pack_into("<Q", r, 0x1F0, tcb)
rr, ss = ecdsa_rs("vcek.key", bytes(r[:0x2A0]), "sha384", 48)
r[0x2A0:0x2A0 + 48] = rr[::-1]
r[0x2A0 + 72:0x2A0 + 120] = ss[::-1]
bstr = lambda b: (bytes([0x59]) + struct.pack(">H", len(b)) if len(b) > 255 else bytes([0x58, len(b)])) + b
ev = b"\xa3\x01" + bstr(bytes(r)) + b"\x02" + bstr(der_of("vcek.pem")) + b"\x03\x82" + bstr(der_of("ask.pem")) + bstr(der_of("ark.pem"))
open(P("snp.cbor"), "wb").write(ev)
json.dump({"format": "vmesh-rv/1", "reference-values": [{"scheme": "sev-snp", "class-id": "text:sev-snp",
    "measurements": [{"name": "measurement", "digest": {"alg": "sha-384", "value": "4d" * 48}}],
    "attributes": {"root-sha256": fp("ark.pem"), "min-tcb": "bl=3,tee=0,snp=8,ucode=115"}}]}, open(P("snp-rv.json"), "w"))
open(P("snp-nonce.hex"), "w").write(nonce.hex())

# ---- TDX ----------------------------------------------------------------------
for k in ("root.key", "pca.key", "pck.key", "att.key", "tcbsign.key"):
    key(k, "P-256")
oid = lambda *sub: tlv(6, bytes.fromhex("2a864886f84d010d01") + bytes(sub))
pair = lambda o, v: tlv(0x30, o + v)
tcbs = b"".join(pair(oid(2, i), tlv(2, bytes([5]))) for i in range(1, 17)) + pair(oid(2, 17), tlv(2, bytes([11])))
sgx = tlv(0x30, pair(oid(1), tlv(4, bytes(16))) + pair(oid(2), tlv(0x30, tcbs)) + pair(oid(3), tlv(4, b"\0\0"))
          + pair(oid(4), tlv(4, bytes.fromhex("00906ed50000"))))
root = cert("root.pem", "Bench SGX Root CA", "root.key", ca=True)
pca = cert("pca.pem", "Bench SGX PCK Platform CA", "pca.key", "root.pem", "root.key", ca=True)
pck = cert("pck.pem", "Intel SGX PCK Certificate", "pck.key", "pca.pem", "pca.key",
           exts=[("1.2.840.113741.1.13.1", sgx)])
tsc = cert("tcbsign.pem", "Intel SGX TCB Signing", "tcbsign.key", "root.pem", "root.key")
chain = (pck + pca + root).encode()
tnonce = bytes([0x6e]) * 32
hdr = struct.pack("<HHIHH", 4, 2, 0x81, 0, 0) + bytes.fromhex("939a7233f79c4ca9940a0db3957f0607") + bytes(20)
body = bytearray(584)
body[0] = 3; body[2] = 5
body[0x88:0xB8] = bytes([0x7d]) * 48
body[0x208:0x228] = tnonce
ak = pubxy("att.key")
auth = bytes(range(32))
qe = bytearray(384)
qe[48] = 0x11
qe[128:160] = bytes.fromhex("DC9E2A7C6F948F17474E34A7FC43ED030F7C1563F1BABDDF6340C82E0E54A8C5")
qe[256] = 2; qe[258] = 4
qe[320:352] = hashlib.sha256(ak + auth).digest()
qsig = b"".join(ecdsa_rs("pck.key", bytes(qe), "sha256", 32))
cd = bytes(qe) + qsig + struct.pack("<H", len(auth)) + auth + struct.pack("<HI", 5, len(chain)) + chain
sigd = b"".join(ecdsa_rs("att.key", hdr + bytes(body), "sha256", 32)) + ak + struct.pack("<HI", 6, len(cd)) + cd
open(P("tdx.quote"), "wb").write(hdr + bytes(body) + struct.pack("<I", len(sigd)) + sigd)
svn = lambda xs: ",".join('{"svn":%d}' % x for x in xs)
tbody = ('{"id":"TDX","version":3,"issueDate":"2020-01-01T00:00:00Z","nextUpdate":"2039-01-01T00:00:00Z",'
         '"fmspc":"00906ED50000","pceId":"0000","tcbType":0,"tcbEvaluationDataNumber":15,'
         '"tdxModule":{"mrsigner":"' + "0" * 96 + '","attributes":"0000000000000000","attributesMask":"FFFFFFFFFFFFFFFF"},'
         '"tcbLevels":[{"tcb":{"sgxtcbcomponents":[' + svn([5] * 16) + '],"pcesvn":11,"tdxtcbcomponents":['
         + svn([3, 0, 5] + [0] * 13) + ']},"tcbDate":"2023-02-15T00:00:00Z","tcbStatus":"UpToDate"}]}')
qbody = ('{"id":"TD_QE","version":2,"issueDate":"2020-01-01T00:00:00Z","nextUpdate":"2039-01-01T00:00:00Z",'
         '"tcbEvaluationDataNumber":15,"miscselect":"00000000","miscselectMask":"FFFFFFFF",'
         '"attributes":"11000000000000000000000000000000","attributesMask":"FBFFFFFFFFFFFFFF0000000000000000",'
         '"mrsigner":"DC9E2A7C6F948F17474E34A7FC43ED030F7C1563F1BABDDF6340C82E0E54A8C5","isvprodid":2,'
         '"tcbLevels":[{"tcb":{"isvsvn":4},"tcbDate":"2023-02-15T00:00:00Z","tcbStatus":"UpToDate"}]}')
signed = lambda k, b: '{"%s":%s,"signature":"%s"}' % (k, b, b"".join(ecdsa_rs("tcbsign.key", b.encode(), "sha256", 32)).hex())
json.dump({"format": "vmesh-rv/1", "reference-values": [{"scheme": "tdx", "class-id": "text:tdx",
    "measurements": [{"name": "mrtd", "digest": {"alg": "sha-384", "value": "7d" * 48}}],
    "attributes": {"root-sha256": fp("root.pem"), "ta-pem": tsc,
                   "collateral": [signed("tcbInfo", tbody), signed("enclaveIdentity", qbody)]}}]},
          open(P("tdx-rv.json"), "w"))
open(P("tdx-nonce.hex"), "w").write(tnonce.hex())
