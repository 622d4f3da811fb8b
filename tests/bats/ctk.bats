#!/usr/bin/env bats
# The dispatcher: "ctk CMD" runs "ctk-CMD".
load setup

@test "ctk --help lists the commands" {
    run ctk --help
    [ "$status" -eq 0 ]
    [[ "$output" == *"Usage: ctk COMMAND"* ]]
    [[ "$output" == *"train-mnrl"* ]]
}

@test "ctk --version" {
    run ctk --version
    [ "$status" -eq 0 ]
    [[ "$output" == "ctk (ctk) "* ]]
}

@test "ctk with an unknown command is a usage error" {
    run --separate-stderr ctk no-such-command
    expect_usage_error
    [[ "$stderr" == *"ctk: 'no-such-command' is not a ctk command"* ]]
}

@test "ctk without a command is a usage error" {
    run ctk
    [ "$status" -eq 2 ]
}
