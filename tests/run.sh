#!/usr/bin/env bash
# The README's test command: `bash tests/run.sh [nextest filters and options…]`.
# On a fresh clone of a fresh machine it installs what the tests need and runs them all:
#  - the outside validators from Debian's packages (qpdf, pdfsig/pdftotext/pdffonts/pdftoppm,
#    certutil), sqlite3 and pg_dump (the backup test), with apt-get when they are missing (root
#    needed then; otherwise it says what to run);
#  - the Python tools (pyHanko, certomancer, aiosmtpd, moto) come from PyPI into venvs on first use,
#    pinned in tests/common/pyvenv.rs;
#  - PostgreSQL: when TEST_DATABASE_URL is unset and a server answers on 127.0.0.1:5432, the
#    PostgreSQL half runs there (each test makes and drops its own database); otherwise it is
#    reported as skipped (DOCFLOW_REQUIRE_POSTGRES=1 makes that a failure, as in CI).
# Tests run with cargo-nextest (one process per test, in parallel; tests/nextest.toml), or with
# `cargo test` where cargo-nextest is not installed.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the tests call, by the command that proves each is there.
need=()
for pair in qpdf:qpdf pdfsig:poppler-utils pdftoppm:poppler-utils certutil:libnss3-tools \
  sqlite3:sqlite3 pg_dump:postgresql-client; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || need+=("${pair##*:}")
done
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || need+=(python3-venv)
if [ ${#need[@]} -gt 0 ]; then
  mapfile -t need < <(printf '%s\n' "${need[@]}" | sort -u)
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "tests/run.sh: installing ${need[*]} (Debian packages the tests use)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "tests/run.sh: the tests need these Debian packages: ${need[*]}" >&2
    echo "  install them with: sudo apt-get install -y ${need[*]}" >&2
    exit 1
  fi
fi

if [ -z "${TEST_DATABASE_URL:-}" ] && command -v pg_isready >/dev/null 2>&1 \
  && pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
  export TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres
  echo "tests/run.sh: PostgreSQL half on $TEST_DATABASE_URL"
fi

if cargo nextest --version >/dev/null 2>&1; then
  exec cargo nextest run --config-file tests/nextest.toml --no-fail-fast "$@"
else
  echo "tests/run.sh: cargo-nextest not found, running cargo test (slower: one test process)"
  exec cargo test --no-fail-fast "$@"
fi
