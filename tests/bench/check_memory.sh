#!/usr/bin/env bash
# tests/bench/check_memory.sh BINARY
# Peak resident memory of the upload check (`BINARY pdf check`) and of verification
# (`BINARY pdf verify`) on files that cost an eager PDF parser many times their size, beside the
# same commands on a one-page PDF (the idle process), measured with /usr/bin/time -v:
#   ints-intact    104 MB: one array of 52 million integers that nothing refers to
#   ints-kids      104 MB: the same array as the page tree's /Kids (a damaged file)
#   objects-1m      48 MB: one million small objects, all in the xref table
#   scan-50mb       50 MB: a valid 200-page file of incompressible images (the ordinary big file)
#   scan-50mb-2sig  the same file signed twice (`BINARY pdf sign`, a throwaway key): verification
#                   parses the final file and the first signature's revision
# Prints one line per file and command: the outcome (exit code, first words) and the peak.
# Writes its files in a temporary directory (about 370 MB).
set -euo pipefail
bin=$(realpath "${1:?usage: check_memory.sh BINARY}")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
python3 - <<'PY'
import os

def write(path, objs, root=1):
    """objs: {num: bytes body}; classic xref table; catalog is object 1."""
    n = max(objs) + 1
    with open(path, "wb") as f:
        f.write(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
        offs = {}
        for num in sorted(objs):
            offs[num] = f.tell()
            f.write(b"%d 0 obj\n" % num)
            body = objs[num]
            if callable(body):
                body(f)
            else:
                f.write(body)
            f.write(b"\nendobj\n")
        x = f.tell()
        f.write(b"xref\n0 %d\n0000000000 65535 f \n" % n)
        f.write(b"".join(b"%010d 00000 n \n" % offs[i] if i in offs else b"0000000000 65535 f \n"
                         for i in range(1, n)))
        f.write(b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (n, root, x))

page = b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R >>"
content = b"<< /Length 0 >>\nstream\n\nendstream"

def ints(f):
    f.write(b"[")
    chunk = b"1 " * (1 << 20)
    for _ in range(52):
        f.write(chunk)
    f.write(b"]")

def kids(f):
    f.write(b"<< /Type /Pages /Count 1 /Kids ")
    ints(f)
    f.write(b" >>")

base = {1: b"<< /Type /Catalog /Pages 2 0 R >>", 2: b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        3: page, 4: content}
write("tiny.pdf", dict(base))
write("ints-intact.pdf", {**base, 5: ints})
write("ints-kids.pdf", {**base, 2: kids})
many = dict(base)
for i in range(5, 1_000_005):
    many[i] = b"<</A %d>>" % (i % 10)
write("objects-1m.pdf", many)

objs = {1: b"<< /Type /Catalog /Pages 2 0 R >>"}
kids_refs, n = [], 3
for p in range(200):
    pg, cs, im = n, n + 1, n + 2
    n += 3
    kids_refs.append(pg)
    objs[pg] = (b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources "
                b"<< /XObject << /Im1 %d 0 R >> >> /Contents %d 0 R >>" % (im, cs))
    c = b"q 451 0 0 451 72 72 cm /Im1 Do Q"
    objs[cs] = b"<< /Length %d >>\nstream\n" % len(c) + c + b"\nendstream"
    data = os.urandom(256 * 1024)
    objs[im] = (b"<< /Type /XObject /Subtype /Image /Width 512 /Height 512 /ColorSpace /DeviceGray "
                b"/BitsPerComponent 8 /Length %d >>\nstream\n" % len(data) + data + b"\nendstream")
objs[2] = b"<< /Type /Pages /Count 200 /Kids [%s] >>" % b" ".join(b"%d 0 R" % k for k in kids_refs)
write("scan-50mb.pdf", objs)
PY
openssl req -x509 -newkey rsa:2048 -nodes -keyout key.pem -out cert.pem -days 30 \
  -subj "/CN=Memory bench" 2>/dev/null
"$bin" pdf sign scan-50mb.pdf signed1.pdf --key key.pem --cert cert.pem > /dev/null
"$bin" pdf sign signed1.pdf scan-50mb-2sig.pdf --key key.pem --cert cert.pem > /dev/null
rm signed1.pdf
peak() { # command... → "exit peak_kib first_line"
  set +e
  /usr/bin/time -v "$@" > out.txt 2> err.txt
  code=$?
  set -e
  rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' err.txt)
  first=$( (grep -v -E '^\s' err.txt | grep -v 'Command' | head -n 1; head -c 160 out.txt) | tr '\n' ' ' | cut -c1-120)
  echo "$code $rss $first"
}
read -r _ idle_check _ < <(peak "$bin" pdf check tiny.pdf)
read -r _ idle_verify _ < <(peak "$bin" pdf verify tiny.pdf)
echo "idle (1-page PDF): check $idle_check KiB, verify $idle_verify KiB"
for f in ints-intact ints-kids objects-1m scan-50mb scan-50mb-2sig; do
  size=$(stat -c %s "$f.pdf")
  for cmd in check verify; do
    read -r code rss first < <(peak "$bin" pdf "$cmd" "$f.pdf")
    idle=$idle_check; [ "$cmd" = verify ] && idle=$idle_verify
    printf '%-12s %4d MB  %-6s exit %s  peak +%d MiB over idle  %s\n' \
      "$f" $((size >> 20)) "$cmd" "$code" $(( (rss - idle) / 1024 )) "$first"
  done
done
