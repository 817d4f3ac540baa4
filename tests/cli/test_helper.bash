# Shared set-up of the Bats suites: the build's programs first on PATH, every cdm path in
# the test's own temporary directory, bats-support and bats-assert from Debian.
bats_require_minimum_version 1.5.0
bats_load_library bats-support
bats_load_library bats-assert

: "${CDM_BUILD_DIR:?run the Bats suites through meson test (it sets CDM_BUILD_DIR)}"
: "${CDM_SOURCE_DIR:?run the Bats suites through meson test (it sets CDM_SOURCE_DIR)}"

PATH="$CDM_BUILD_DIR/tools:$PATH"
export PATH

# Used by the suites that load this file.
FIXTURES="$CDM_SOURCE_DIR/tests/cli/fixtures"
export CDM_STATEDIR="$BATS_TEST_TMPDIR/state"
export LOGLEVEL=INFO
export TZ=UTC
