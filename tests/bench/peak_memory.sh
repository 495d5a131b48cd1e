#!/usr/bin/env bash
# tests/bench/peak_memory.sh BINARY [MB]
# Peak resident memory of `BINARY pdf sign` on a MB-sized PDF (default 200), beside the same command
# on a one-page PDF (the idle process), measured with /usr/bin/time -v. Also prints the wall time and
# the time of `sha256sum` over the same file. Writes its files in a temporary directory.
set -euo pipefail
bin=$(realpath "${1:?usage: peak_memory.sh BINARY [MB]}")
mb=${2:-200}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
openssl req -x509 -newkey rsa:2048 -nodes -keyout key.pem -out cert.pem -days 30 -subj "/CN=Bench" 2>/dev/null
python3 - "$mb" <<'PY'
import os, sys
def make(path, mb):
    pages = max(1, int(mb * 4)); w = 256; h = max(1, int(mb * 1024 * 1024 / pages) // w)
    objs = {1: b"<< /Type /Catalog /Pages 2 0 R >>", 3: b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"}
    kids, n = [], 4
    for p in range(pages):
        page, content, img = n, n + 1, n + 2; n += 3; kids.append(page)
        objs[page] = f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 3 0 R >> /XObject << /Im1 {img} 0 R >> >> /Contents {content} 0 R >>".encode()
        cs = f"BT /F1 18 Tf 72 770 Td (Page {p+1}) Tj ET q 451 0 0 451 72 72 cm /Im1 Do Q".encode()
        objs[content] = b"<< /Length %d >>\nstream\n" % len(cs) + cs + b"\nendstream"
        data = os.urandom(w * h)
        objs[img] = f"<< /Type /XObject /Subtype /Image /Width {w} /Height {h} /ColorSpace /DeviceGray /BitsPerComponent 8 /Length {len(data)} >>\nstream\n".encode() + data + b"\nendstream"
    objs[2] = f"<< /Type /Pages /Count {pages} /Kids [{' '.join(f'{k} 0 R' for k in kids)}] >>".encode()
    with open(path, "wb") as f:
        f.write(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"); offs = {}
        for num in sorted(objs):
            offs[num] = f.tell(); f.write(b"%d 0 obj\n" % num + objs[num] + b"\nendobj\n")
        x = f.tell(); f.write(b"xref\n0 %d\n0000000000 65535 f \n" % n)
        for num in range(1, n): f.write(b"%010d 00000 n \n" % offs[num])
        f.write(f"trailer\n<< /Size {n} /Root 1 0 R >>\nstartxref\n{x}\n%%EOF\n".encode())
make("big.pdf", float(sys.argv[1])); make("tiny.pdf", 0.001)
PY
measure() {
  /usr/bin/time -v "$bin" pdf sign "$1" "$2" --key key.pem --cert cert.pem 2> time.txt >/dev/null
  rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' time.txt)
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' time.txt)
  echo "$rss $wall"
}
read -r idle _ < <(measure tiny.pdf tiny-signed.pdf)
read -r big wall < <(measure big.pdf big-signed.pdf)
hash_wall=$( { /usr/bin/time -f %e sha256sum big.pdf >/dev/null; } 2>&1 )
echo "input: $(stat -c %s big.pdf) bytes"
echo "idle (1-page PDF) peak RSS: $idle KiB"
echo "${mb} MB PDF peak RSS: $big KiB (+$(( (big - idle) / 1024 )) MiB over idle), wall $wall"
echo "sha256sum of the same file: ${hash_wall} s"
