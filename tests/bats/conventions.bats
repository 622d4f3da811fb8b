#!/usr/bin/env bats
# What every ctk program and man page keeps: --help, --version, usage errors
# (exit 2, one message naming the program, the --help hint, nothing on
# stdout), a man page that groff reads without a warning.
load setup

programs() {
    for f in "$SRC"/bin/ctk-*.c; do basename "$f" .c; done
}

@test "every program answers --help (exit 0, usage on stdout) and --version" {
    for p in $(programs); do
        run "$p" --help
        [ "$status" -eq 0 ] || { echo "$p --help: exit $status"; return 1; }
        [[ "$output" == "Usage: $p"* ]] || { echo "$p --help: $output" | head -2; return 1; }
        run "$p" --version
        [ "$status" -eq 0 ] || { echo "$p --version: exit $status"; return 1; }
        [[ "$output" == "$p (ctk) "* ]] || { echo "$p --version: $output"; return 1; }
    done
}

@test "every program refuses an unknown option with exit 2 and the --help hint" {
    for p in $(programs); do
        run --separate-stderr "$p" --no-such-option
        [ "$status" -eq 2 ] || { echo "$p: exit $status"; return 1; }
        [ -z "$output" ] || { echo "$p wrote to stdout: $output"; return 1; }
        [[ "$stderr" == *"Try '$p --help' for more information."* ]] || { echo "$p: $stderr"; return 1; }
        [[ "$stderr" == "$p: "* ]] || { echo "$p: $stderr"; return 1; }
    done
}

@test "every program has a man page, and every man page is clean for groff" {
    command -v groff >/dev/null || skip "groff is not installed (apt-get install groff-base)"
    for p in $(programs); do
        [ -f "$SRC/man/$p.1" ] || { echo "no man page for $p"; return 1; }
    done
    for m in "$SRC"/man/*.[157]; do
        run bash -c "LC_ALL=C.UTF-8 groff -man -ww -z '$m' 2>&1"
        [ -z "$output" ] || { echo "$m: $output"; return 1; }
        sections='NAME DESCRIPTION SEE.ALSO'
        case "$m" in *.1) sections='NAME SYNOPSIS DESCRIPTION OPTIONS EXIT.STATUS EXAMPLES SEE.ALSO' ;; esac
        for s in $sections; do
            grep -q "^\.SH \"\{0,1\}$s" "$m" || { echo "$m has no $s section"; return 1; }
        done
    done
}

@test "every long option in a program's --help is in its man page" {
    for p in $(programs); do
        for o in $("$p" --help | grep -o -- '--[a-z][a-z0-9-]*' | sort -u); do
            [ "$o" = --help ] || [ "$o" = --version ] && continue
            sed 's/\\-/-/g' "$SRC/man/$p.1" | grep -q -F -- "$o" || { echo "$p: $o is not in man/$p.1"; return 1; }
        done
    done
}
