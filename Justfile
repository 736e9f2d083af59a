# imggen tasks. `just ci` is exactly what .ci/run runs after preparing the machine.

default: test

# Unit, snapshot, CLI, validator and real-engine tests.
test:
    cargo test --locked

# Formatting, lints, tests, and hadolint over every fixture's generated Dockerfile.
ci: fmt-check clippy test hadolint

fmt-check:
    cargo fmt --all -- --check

clippy:
    cargo clippy --locked --all-targets -- -D warnings

# hadolint at the strictest threshold over the Dockerfile generated for every fixture.
hadolint:
    cargo build --locked --quiet
    bash scripts/fixture-dockerfiles.sh target/hadolint > target/hadolint.list
    xargs -r -n1 hadolint --failure-threshold style < target/hadolint.list
    echo "hadolint: $(wc -l < target/hadolint.list) Dockerfiles clean"

# Benchmarks: the generated Dockerfiles, then the daemonless path, against the host's own cargo build (bench/README.md).
bench:
    bash bench/run.sh
    bash bench/oci.sh

# Build and probe every corpus entry that boots alone (slow: real repositories); results in corpus/builds.md.
corpus-build *NAMES:
    bash corpus/build.sh {{NAMES}}

# `imggen plan` on a real workspace of more than 100k lines (DIR), beside `cargo metadata`.
bench-plan DIR:
    bash bench/plan.sh {{DIR}}

# Review pending insta snapshots (needs cargo-insta).
review:
    cargo insta review
