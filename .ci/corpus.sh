#!/usr/bin/env bash
# .ci/corpus.sh MANIFEST_DIR BINARY
# Signs or rejects every PDF listed in MANIFEST_DIR/MANIFEST.tsv with `BINARY pdf sign` and checks
# the outcome against expected_signer_behaviour:
#   sign            exit 0 within 10 s; original bytes are a prefix of the output; pyHanko finds the new
#                   signature INTACT+VALID+TRUSTED (throwaway test CA made here), every earlier signature
#                   that pyHanko found intact and valid before still is, DocMDP respected; qpdf --check
#                   exits 0 or 3; page count unchanged.
#   reject          non-zero exit within 10 s with an `error [code]: ...` line, no panic, no output file.
#   sign-or-reject  either of the two, judged as above.
# Prints `N passed, M failed` and exits non-zero on any failure.
# Needs python3 (a venv with pyHanko is made in $DOCFLOW_VENV, default ./.venv), openssl and qpdf.
set -euo pipefail
dir=$(cd "${1:?usage: corpus.sh MANIFEST_DIR BINARY}" && pwd)
bin=$(realpath "${2:?usage: corpus.sh MANIFEST_DIR BINARY}")
repo=$(cd "$(dirname "$0")/.." && pwd)
venv=${DOCFLOW_VENV:-$repo/.venv}
command -v qpdf >/dev/null || { echo "corpus.sh: qpdf is missing (apt-get install qpdf)" >&2; exit 2; }
if [ ! -x "$venv/bin/pyhanko" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q -c "$repo/tests/python-constraints.txt" pyhanko pyhanko-cli 'certomancer[web-api]'
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(
  cd "$work"
  openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 3650 \
    -subj "/C=VN/O=docflow corpus/CN=Corpus Root CA" -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -keyout signer.key -out signer.csr \
    -subj "/C=VN/O=docflow corpus/CN=Nguyen Van A" 2>/dev/null
  printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,nonRepudiation\n' > ext.cnf
  openssl x509 -req -in signer.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 825 \
    -extfile ext.cnf -out signer.pem 2>/dev/null
)
exec "$venv/bin/python" - "$dir" "$bin" "$work" <<'PY'
import csv, hashlib, logging, os, subprocess, sys
logging.disable(logging.CRITICAL)
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature, validate_pdf_timestamp
from pyhanko.keys import load_cert_from_pemder
from pyhanko_certvalidator import ValidationContext

corpus, binary, work = sys.argv[1:4]
roots = [load_cert_from_pemder(os.path.join(work, "ca.pem"))]

def signatures(path):
    """(field, revision, intact, valid, trusted, docmdp_ok) per signature, or raises."""
    out = []
    with open(path, "rb") as f:
        r = PdfFileReader(f, strict=False)
        for s in r.embedded_signatures:
            vc = ValidationContext(trust_roots=roots, allow_fetching=False, revocation_mode="soft-fail")
            try:
                if str(s.sig_object.get("/Type", "/Sig")) == "/DocTimeStamp":
                    st = validate_pdf_timestamp(s, validation_context=vc)
                    docmdp = True
                else:
                    st = validate_pdf_signature(s, signer_validation_context=vc, ts_validation_context=vc)
                    docmdp = getattr(st, "docmdp_ok", None) is not False
                out.append((s.field_name, s.signed_revision, bool(st.intact), bool(st.valid), bool(st.trusted), docmdp))
            except Exception as e:  # noqa: BLE001
                out.append((s.field_name, s.signed_revision, False, False, False, False))
    return out

def pages(path):
    p = subprocess.run(["qpdf", "--show-npages", path], capture_output=True, text=True)
    return p.stdout.strip() if p.returncode in (0, 3) else None

def check_signed(src, out):
    with open(src, "rb") as a, open(out, "rb") as b:
        orig = a.read()
        if b.read(len(orig)) != orig:
            return "original bytes are not a prefix of the output"
    try:
        before = {f: (i and v) for f, _, i, v, _, _ in signatures(src)}
    except Exception:  # noqa: BLE001
        before = {}
    try:
        after = signatures(out)
    except Exception as e:  # noqa: BLE001
        return f"pyHanko cannot read the output: {e!r}"
    if not after:
        return "pyHanko finds no signature"
    newest = max(after, key=lambda x: x[1])
    if not (newest[2] and newest[3] and newest[4] and newest[5]):
        return f"new signature {newest[0]} not intact/valid/trusted/docmdp-ok: {newest}"
    for f, rev, i, v, t, d in after:
        if f != newest[0] and before.get(f) and not (i and v and d):
            return f"earlier signature {f} was valid and is not any more"
    q = subprocess.run(["qpdf", "--check", out], capture_output=True, text=True)
    if q.returncode not in (0, 3):
        return f"qpdf --check exit {q.returncode}: {q.stdout[-300:]} {q.stderr[-300:]}"
    if pages(src) is not None and pages(src) != pages(out):
        return "page count changed"
    return None

passed = failed = 0
with open(os.path.join(corpus, "MANIFEST.tsv"), newline="") as f:
    rows = list(csv.DictReader(f, delimiter="\t"))
for row in rows:
    name, expect = row["file"], row["expected_signer_behaviour"]
    src = os.path.join(corpus, name)
    out = os.path.join(work, "signed-" + name)
    problem = None
    with open(src, "rb") as fh:
        if hashlib.sha256(fh.read()).hexdigest() != row["sha256"]:
            problem = "sha256 mismatch"
    outcome = "?"
    if problem is None:
        cmd = [binary, "pdf", "sign", src, out, "--key", os.path.join(work, "signer.key"),
               "--cert", os.path.join(work, "signer.pem")]
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
            code, err = p.returncode, p.stderr.strip()
        except subprocess.TimeoutExpired:
            code, err = None, "timed out after 10 s"
        if code == 0:
            outcome = "signed"
            problem = check_signed(src, out) if expect != "reject" else "signed a file that must be rejected"
        elif code == 1 and err.startswith("error [") and "panicked" not in err and not os.path.exists(out):
            outcome = "rejected: " + err.splitlines()[-1][:150]
            if expect == "sign":
                problem = "rejected a file that must be signed"
        else:
            outcome = f"exit {code}"
            problem = f"unclean failure (exit {code}): {err[-300:]}"
    if problem:
        failed += 1
        print(f"FAIL {name} [{expect}] {outcome}: {problem}")
    else:
        passed += 1
        print(f"ok   {name} [{expect}] {outcome}")
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
PY
