# tests/bats/setup.bash -- sourced by every bats file: strict mode, C locale,
# a private temporary folder, and helpers shared by the program tests.
bats_require_minimum_version 1.5.0

setup() {
    export LC_ALL=C.UTF-8
    TMP="$BATS_TEST_TMPDIR"
    SRC="${CTK_SRCDIR:?run the tests through make check}"
    DATA="$SRC/tests/data"
}

# pipeline CMD: run a shell pipeline with pipefail, so that a failure
# anywhere in it fails the test ("run a | b" would only check b).
pipeline() {
    bash -o pipefail -c "$1"
}

# expect_usage_error: the last run exited 2 with an error line naming the program.
expect_usage_error() {
    [ "$status" -eq 2 ] || { echo "expected exit 2, got $status: $stderr"; return 1; }
    [ -z "$output" ] || { echo "expected no stdout, got: $output"; return 1; }
}
